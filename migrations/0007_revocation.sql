-- Ended sign-ins: when Redis was away, or lost what it held, the API
-- tells it again of every sign-in ended within an access token's lifetime
-- (lib/revocation.c); this finds them without reading every refresh token.
CREATE INDEX refresh_tokens_revoked ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
