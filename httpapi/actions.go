package httpapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cubegate/cubegate/auth"
)

// The admin API's credential and key actions as functions of an actor:
// the handlers in admin.go and the console's Credentials and API keys
// pages call these, so the scopes, the checks against the data sources
// and the model, the ceiling (auth.Ceiling) and the audit (which names
// the actor) are the same for both.

// FieldError is a refused value of one input field: the admin API answers
// 400 with its message, the console shows it next to the field.
type FieldError struct {
	Field string // the JSON name: "database", "security_context", …
	Err   error
}

func (e *FieldError) Error() string   { return e.Err.Error() }
func (e *FieldError) Unwrap() []error { return []error{errBadRequest, e.Err} }

// need refuses an actor without scope.
func need(actor auth.Actor, scope string) error {
	if !Holds(actor, scope) {
		return fmt.Errorf("%w: this needs the %q scope", errForbidden, scope)
	}
	return nil
}

// checkSource: a credential connects to one of its tenant's data sources.
func (a *Admin) checkSource(tenant, name string) error {
	if a.DataSource == nil {
		return nil
	}
	if t, ok := a.DataSource(name); !ok || t != tenant {
		return &FieldError{Field: "database", Err: fmt.Errorf("tenant %s has no data source %q", tenant, name)}
	}
	return nil
}

// checkSecurity checks a security context's cubes and members (allow,
// row_filters) against the data source's model, when it is loaded; its
// other keys are claims, which the model reads as it likes.
func (a *Admin) checkSecurity(source string, sc *auth.SecurityContext) error {
	if sc == nil || a.Model == nil {
		return nil
	}
	if m := a.Model(source); m != nil {
		if err := sc.Validate(m); err != nil {
			return &FieldError{Field: "security_context", Err: err}
		}
	}
	return nil
}

// CredentialsAs lists the credentials of actor's tenant (credentials:read).
func (a *Admin) CredentialsAs(ctx context.Context, actor auth.Actor) ([]auth.Credential, error) {
	if err := need(actor, "credentials:read"); err != nil {
		return nil, err
	}
	all, err := a.Credentials.ListCredentials(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(c auth.Credential) bool { return c.TenantID != actor.TenantID }), nil
}

// CredentialAs reads one credential of actor's tenant (credentials:read).
func (a *Admin) CredentialAs(ctx context.Context, actor auth.Actor, id string) (auth.Credential, error) {
	if err := need(actor, "credentials:read"); err != nil {
		return auth.Credential{}, err
	}
	return a.credentialOf(ctx, actor, id)
}

// credentialOf reads a credential of actor's tenant (a writer need not
// hold credentials:read to change one).
func (a *Admin) credentialOf(ctx context.Context, actor auth.Actor, id string) (auth.Credential, error) {
	c, err := a.Credentials.GetCredential(ctx, id)
	if err == nil && c.TenantID != actor.TenantID {
		err = auth.ErrNotFound
	}
	return c, err
}

// CreateCredentialAs mints a credential (credentials:write) on one of
// actor's tenant's data sources, its security context checked against
// that source's model, within the actor's ceiling; no security context:
// the actor's. The password is returned here only.
func (a *Admin) CreateCredentialAs(ctx context.Context, actor auth.Actor, req auth.CredentialRequest) (auth.Credential, string, error) {
	if err := need(actor, "credentials:write"); err != nil {
		return auth.Credential{}, "", err
	}
	if err := a.checkSource(actor.TenantID, req.Database); err != nil {
		return auth.Credential{}, "", err
	}
	if err := a.checkSecurity(req.Database, req.Security); err != nil {
		return auth.Credential{}, "", err
	}
	c, pw, err := a.Credentials.CreateCredentialAs(ctx, actor, req)
	if err != nil {
		return c, "", errors.Join(errBadRequest, err)
	}
	return c, pw, nil
}

// UpdateCredentialAs changes a credential of actor's tenant
// (credentials:write), checked as CreateCredentialAs checks a new one.
func (a *Admin) UpdateCredentialAs(ctx context.Context, actor auth.Actor, id string, in auth.UpdateCredentialInput) (auth.Credential, error) {
	if err := need(actor, "credentials:write"); err != nil {
		return auth.Credential{}, err
	}
	c, err := a.credentialOf(ctx, actor, id)
	if err != nil {
		return c, err
	}
	if in.Database != nil {
		if err := a.checkSource(c.TenantID, *in.Database); err != nil {
			return c, err
		}
		c.Database = *in.Database
	}
	if err := a.checkSecurity(c.Database, in.Security); err != nil {
		return c, err
	}
	c, err = a.Credentials.UpdateCredentialAs(ctx, actor, c.ID, in)
	if err != nil {
		return c, errors.Join(errBadRequest, err)
	}
	return c, nil
}

// RotateCredentialAs gives a credential of actor's tenant a new password
// (credentials:write), returned here only; the old one stops at once.
func (a *Admin) RotateCredentialAs(ctx context.Context, actor auth.Actor, id string) (auth.Credential, string, error) {
	if err := need(actor, "credentials:write"); err != nil {
		return auth.Credential{}, "", err
	}
	c, err := a.credentialOf(ctx, actor, id)
	if err != nil {
		return c, "", err
	}
	return a.Credentials.RotatePasswordAs(ctx, actor, c.ID)
}

// DeleteCredentialAs deletes a credential of actor's tenant
// (credentials:write): its next login fails.
func (a *Admin) DeleteCredentialAs(ctx context.Context, actor auth.Actor, id string) (auth.Credential, error) {
	if err := need(actor, "credentials:write"); err != nil {
		return auth.Credential{}, err
	}
	c, err := a.credentialOf(ctx, actor, id)
	if err != nil {
		return c, err
	}
	return c, a.Credentials.DeleteCredentialAs(ctx, actor, c.ID)
}

// KeysAs lists the keys of actor's tenant, revoked ones included
// (keys:read).
func (a *Admin) KeysAs(ctx context.Context, actor auth.Actor) ([]auth.APIKey, error) {
	if err := need(actor, "keys:read"); err != nil {
		return nil, err
	}
	return a.Keys.List(ctx, actor.TenantID)
}

// CreateKeyAs mints a key (keys:write) within actor's ceiling; the
// answer alone carries its value.
func (a *Admin) CreateKeyAs(ctx context.Context, actor auth.Actor, in auth.KeyInput) (auth.APIKey, error) {
	if err := need(actor, "keys:write"); err != nil {
		return auth.APIKey{}, err
	}
	return a.Keys.CreateAs(ctx, actor, in)
}

// UpdateKeyAs changes a key of actor's tenant (keys:write): enabled,
// description, scopes, allow-list, expiry …
func (a *Admin) UpdateKeyAs(ctx context.Context, actor auth.Actor, id string, in auth.KeyInput) (auth.APIKey, error) {
	if err := need(actor, "keys:write"); err != nil {
		return auth.APIKey{}, err
	}
	return a.Keys.UpdateAs(ctx, actor, id, in)
}

// RevokeKeyAs ends a key of actor's tenant at once (keys:write).
func (a *Admin) RevokeKeyAs(ctx context.Context, actor auth.Actor, id string) (auth.APIKey, error) {
	if err := need(actor, "keys:write"); err != nil {
		return auth.APIKey{}, err
	}
	return a.Keys.RevokeAs(ctx, actor, id)
}

// RotateKeyAs replaces a key of actor's tenant (keys:write) by a new one
// with the same description, scopes, allow-list, security context and
// expiry, whose value the answer alone carries. The old key keeps working
// until oldUntil (it expires then; never later than it would have), or
// is revoked at once when oldUntil is zero or past. The new key counts
// against the tenant's key limit while the old one is not revoked.
func (a *Admin) RotateKeyAs(ctx context.Context, actor auth.Actor, id string, oldUntil time.Time) (newKey, old auth.APIKey, err error) {
	if err := need(actor, "keys:write"); err != nil {
		return newKey, old, err
	}
	old, err = a.Keys.Get(ctx, actor.TenantID, id)
	if err == nil && old.RevokedAt != nil {
		err = &auth.KeyError{Code: "API_KEY_NOT_FOUND", Status: 404, Message: fmt.Sprintf("API key %s is revoked", id)}
	}
	if err != nil {
		return newKey, old, err
	}
	test := len(old.KeyStart) >= 8 && old.KeyStart[:8] == "cg_test_"
	in := auth.KeyInput{Description: &old.Description, KeyType: &old.KeyType, BehalfOfUser: &old.BehalfOfUser,
		Scopes: &old.Scopes, AllowIPs: &old.AllowIPs, Enabled: &old.Enabled, ExpiresAt: old.ExpiresAt, Security: &old.Security, Test: test}
	if newKey, err = a.Keys.CreateAs(ctx, actor, in); err != nil {
		return newKey, old, err
	}
	now := time.Now()
	if oldUntil.IsZero() || !oldUntil.After(now) {
		old, err = a.Keys.RevokeAs(ctx, actor, old.ID)
	} else if old.ExpiresAt == nil || oldUntil.Before(*old.ExpiresAt) {
		old, err = a.Keys.UpdateAs(ctx, actor, old.ID, auth.KeyInput{ExpiresAt: &oldUntil})
	}
	if err != nil {
		// Two live keys where one was asked for: take the new one back.
		_, _ = a.Keys.RevokeAs(ctx, actor, newKey.ID)
		return auth.APIKey{}, old, err
	}
	return newKey, old, nil
}
