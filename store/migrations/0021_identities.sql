-- 0021_identities: accounts linked to single sign-on and LMS identities,
-- the server side of sign-ins in flight, and the nonces already seen.

-- One person at one provider, forever: (kind, issuer, subject). Email is
-- kept for the record only; nothing links by it.
CREATE TABLE identities (
	kind         TEXT NOT NULL CHECK (kind IN ('oidc', 'lti')),
	issuer       TEXT NOT NULL CHECK (issuer <> ''),
	subject      TEXT NOT NULL CHECK (subject <> ''),
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	email        TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	PRIMARY KEY (kind, issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- id is the SHA-256 (hex) of the state value the browser carries.
CREATE TABLE auth_states (
	id           TEXT PRIMARY KEY,
	kind         TEXT NOT NULL,
	nonce        TEXT NOT NULL DEFAULT '',
	verifier     TEXT NOT NULL DEFAULT '',
	next         TEXT NOT NULL DEFAULT '',
	link_user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
	data         TEXT NOT NULL DEFAULT '',
	created_at   TEXT NOT NULL,
	expires_at   TEXT NOT NULL
);
CREATE INDEX auth_states_expires ON auth_states (expires_at);

-- Nonces of id_tokens accepted, until the token could no longer be valid.
CREATE TABLE used_nonces (
	issuer     TEXT NOT NULL,
	nonce      TEXT NOT NULL,
	expires_at TEXT NOT NULL,
	PRIMARY KEY (issuer, nonce)
);
CREATE INDEX used_nonces_expires ON used_nonces (expires_at);
