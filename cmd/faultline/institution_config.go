package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/faultline-dev/faultline/mail"
)

// InstitutionConfig is the part of Config for living inside an institution:
// email, single sign-on and LTI. Secrets (the SMTP password, the OIDC
// client secret) come from the environment or a file, never a flag that
// `ps` would show.
type InstitutionConfig struct {
	SMTP             mail.Config
	SMTPPasswordFile string

	OIDC           OIDCConfig
	OIDCSecretFile string
	SSOOnly        bool // hide the password form; admins keep /login?password=1

	MetricsToken     string // bearer token for /metrics; empty: unproxied loopback scrapes only
	MetricsTokenFile string
}

// OIDCConfig names the OpenID provider used for single sign-on.
type OIDCConfig struct {
	Issuer       string // https://login.example.edu/realms/main
	ClientID     string
	ClientSecret string
	Name         string // the button says "Sign in with <Name>"
}

// institutionFromEnv reads the FAULTLINE_* variables of the institution
// settings into c.
func (c *Config) institutionFromEnv(getenv func(string) string) {
	in := &c.Inst
	str := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str(&in.SMTP.Host, "FAULTLINE_SMTP_HOST")
	str(&in.SMTP.Username, "FAULTLINE_SMTP_USER")
	str(&in.SMTP.Password, "FAULTLINE_SMTP_PASSWORD")
	str(&in.SMTPPasswordFile, "FAULTLINE_SMTP_PASSWORD_FILE")
	str(&in.SMTP.From, "FAULTLINE_SMTP_FROM")
	str(&in.SMTP.TLS, "FAULTLINE_SMTP_TLS")
	if v := getenv("FAULTLINE_SMTP_PORT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Sprintf("FAULTLINE_SMTP_PORT=%q is not a whole number", v))
		} else {
			in.SMTP.Port = n
		}
	}
	str(&in.OIDC.Issuer, "FAULTLINE_OIDC_ISSUER")
	str(&in.OIDC.ClientID, "FAULTLINE_OIDC_CLIENT_ID")
	str(&in.OIDC.ClientSecret, "FAULTLINE_OIDC_CLIENT_SECRET")
	str(&in.OIDCSecretFile, "FAULTLINE_OIDC_CLIENT_SECRET_FILE")
	str(&in.OIDC.Name, "FAULTLINE_OIDC_NAME")
	str(&in.MetricsToken, "FAULTLINE_METRICS_TOKEN")
	str(&in.MetricsTokenFile, "FAULTLINE_METRICS_TOKEN_FILE")
	if v := getenv("FAULTLINE_SSO_ONLY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			c.envErrs = append(c.envErrs, fmt.Sprintf("FAULTLINE_SSO_ONLY=%q is not true or false", v))
		} else {
			in.SSOOnly = b
		}
	}
}

// registerInstitutionFlags adds the serve flags of email, SSO and LTI.
func (c *Config) registerInstitutionFlags(fs *flag.FlagSet) {
	in := &c.Inst
	fs.StringVar(&in.SMTP.Host, "smtp-host", in.SMTP.Host, "SMTP server for the portal's email: password resets, grades, discussions (env FAULTLINE_SMTP_HOST; empty: no email)")
	fs.IntVar(&in.SMTP.Port, "smtp-port", in.SMTP.Port, "SMTP port (env FAULTLINE_SMTP_PORT; default 587, or 465 with -smtp-tls tls)")
	fs.StringVar(&in.SMTP.Username, "smtp-user", in.SMTP.Username, "SMTP user name (env FAULTLINE_SMTP_USER; the password comes from FAULTLINE_SMTP_PASSWORD or -smtp-password-file)")
	fs.StringVar(&in.SMTPPasswordFile, "smtp-password-file", in.SMTPPasswordFile, "file holding the SMTP password (env FAULTLINE_SMTP_PASSWORD_FILE)")
	fs.StringVar(&in.SMTP.From, "smtp-from", in.SMTP.From, "From address of the portal's email, e.g. \"Faultline <noreply@example.org>\" (env FAULTLINE_SMTP_FROM)")
	fs.StringVar(&in.SMTP.TLS, "smtp-tls", in.SMTP.TLS, "starttls (default), tls, opportunistic or none (a relay on this machine only) (env FAULTLINE_SMTP_TLS)")
	fs.StringVar(&in.OIDC.Issuer, "oidc-issuer", in.OIDC.Issuer, "OpenID Connect issuer URL for single sign-on (env FAULTLINE_OIDC_ISSUER; empty: no SSO)")
	fs.StringVar(&in.OIDC.ClientID, "oidc-client-id", in.OIDC.ClientID, "OpenID Connect client id (env FAULTLINE_OIDC_CLIENT_ID; the secret comes from FAULTLINE_OIDC_CLIENT_SECRET or -oidc-client-secret-file)")
	fs.StringVar(&in.OIDCSecretFile, "oidc-client-secret-file", in.OIDCSecretFile, "file holding the OpenID Connect client secret (env FAULTLINE_OIDC_CLIENT_SECRET_FILE)")
	fs.StringVar(&in.OIDC.Name, "oidc-name", in.OIDC.Name, "name of the identity provider on the sign-in button (env FAULTLINE_OIDC_NAME; default: its host)")
	fs.StringVar(&in.MetricsTokenFile, "metrics-token-file", in.MetricsTokenFile, "file holding the bearer token Prometheus sends to scrape /metrics (env FAULTLINE_METRICS_TOKEN_FILE, or the token itself in FAULTLINE_METRICS_TOKEN; without one only unproxied scrapes from this machine get in)")
	fs.BoolVar(&in.SSOOnly, "sso-only", in.SSOOnly, "sign people in by SSO or LTI only; administrators keep a password at /login?password=1 (env FAULTLINE_SSO_ONLY)")
}

// validateInstitution checks the institution settings and reads secret files.
func (c *Config) validateInstitution() error {
	in := &c.Inst
	if in.SMTPPasswordFile != "" {
		s, err := readSecret(in.SMTPPasswordFile)
		if err != nil {
			return fmt.Errorf("-smtp-password-file: %w", err)
		}
		in.SMTP.Password = s
	}
	if in.SMTP.Host != "" {
		if err := in.SMTP.Validate(); err != nil {
			return fmt.Errorf("%s", strings.TrimPrefix(describe(err), "mail: "))
		}
	} else if in.SMTP.From != "" || in.SMTP.Username != "" {
		return fmt.Errorf("-smtp-from and -smtp-user need -smtp-host")
	}
	if in.OIDCSecretFile != "" {
		s, err := readSecret(in.OIDCSecretFile)
		if err != nil {
			return fmt.Errorf("-oidc-client-secret-file: %w", err)
		}
		in.OIDC.ClientSecret = s
	}
	if in.MetricsTokenFile != "" {
		s, err := readSecret(in.MetricsTokenFile)
		if err != nil {
			return fmt.Errorf("-metrics-token-file: %w", err)
		}
		in.MetricsToken = s
	}
	o := in.OIDC
	if o.Issuer != "" || o.ClientID != "" {
		if o.Issuer == "" || o.ClientID == "" {
			return fmt.Errorf("single sign-on needs both -oidc-issuer and -oidc-client-id")
		}
		if !strings.HasPrefix(o.Issuer, "https://") && !strings.HasPrefix(o.Issuer, "http://") {
			return fmt.Errorf("-oidc-issuer must be an http(s) URL, got %q", o.Issuer)
		}
	}
	return nil
}

// readSecret reads a one-line secret from a file, without its line end.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
