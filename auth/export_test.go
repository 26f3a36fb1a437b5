package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
)

func clientKeyFor(password string, salt []byte, iter int) []byte {
	salted, _ := pbkdf2.Key(sha256.New, password, salt, iter, sha256.Size)
	return hmacSHA256(salted, []byte("Client Key"))
}
