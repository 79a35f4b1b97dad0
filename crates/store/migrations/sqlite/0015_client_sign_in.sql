-- How a client signs people in from a browser or an app (OpenID Connect): its type,
-- redirect URIs, post-logout redirect URIs, first-party flag and allowed origins, as JSON.
ALTER TABLE clients ADD COLUMN sign_in TEXT NOT NULL DEFAULT '{}';
