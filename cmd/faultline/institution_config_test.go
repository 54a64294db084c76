package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstitutionConfig(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("client-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"FAULTLINE_SMTP_HOST": "smtp.example.org", "FAULTLINE_SMTP_FROM": "Faultline <noreply@example.org>",
		"FAULTLINE_SMTP_PORT": "2525", "FAULTLINE_SMTP_USER": "u", "FAULTLINE_SMTP_PASSWORD": "p",
		"FAULTLINE_OIDC_ISSUER": "https://id.example.org", "FAULTLINE_OIDC_CLIENT_ID": "faultline",
		"FAULTLINE_OIDC_CLIENT_SECRET_FILE": secret, "FAULTLINE_SSO_ONLY": "true",
	}
	c := DefaultConfig(func(k string) string { return env[k] })
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	in := c.Inst
	if in.SMTP.Host != "smtp.example.org" || in.SMTP.Port != 2525 || in.SMTP.Password != "p" || in.SMTP.TLS != "starttls" ||
		in.OIDC.ClientSecret != "client-secret" || !in.SSOOnly {
		t.Fatalf("institution config from env: %+v", in)
	}
	for name, e := range map[string]map[string]string{
		"FAULTLINE_SMTP_PORT":  {"FAULTLINE_SMTP_PORT": "x"},
		"FAULTLINE_SSO_ONLY":   {"FAULTLINE_SSO_ONLY": "maybe"},
		"-smtp-host":           {"FAULTLINE_SMTP_FROM": "a@example.org"},
		"From":                 {"FAULTLINE_SMTP_HOST": "h"},
		"-oidc-client-id":      {"FAULTLINE_OIDC_ISSUER": "https://id.example.org"},
		"-oidc-issuer must be": {"FAULTLINE_OIDC_ISSUER": "id.example.org", "FAULTLINE_OIDC_CLIENT_ID": "x"},
		"secret-file":          {"FAULTLINE_OIDC_CLIENT_SECRET_FILE": filepath.Join(dir, "missing")},
	} {
		c := DefaultConfig(func(k string) string { return e[k] })
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: Validate() = %v, want an error mentioning %q", e, err, name)
		}
	}
}
