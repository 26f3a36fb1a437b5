package app

import (
	"github.com/rs/zerolog"

	"github.com/cubegate/cubegate/cubes"
)

// loadModel loads a model folder, logging what the loader warns of (a
// file it does not read).
func loadModel(log zerolog.Logger, dir string) (*cubes.Model, error) {
	return cubes.LoadDirWith(dir, cubes.LoadOptions{Warn: func(p cubes.Pos, msg string) {
		log.Warn().Str("model", dir).Str("file", p.File).Msg(msg)
	}})
}
