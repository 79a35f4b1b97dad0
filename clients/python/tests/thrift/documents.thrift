// A document service whose calls carry the caller's Warden access token.

exception AuthError {
  1: i32 code,
  2: string error,
  3: string message,
}

service Documents {
  string whoami(1: string token) throws (1: AuthError auth),
  string report(1: string token) throws (1: AuthError auth),
  string edit(1: string token, 2: string id) throws (1: AuthError auth),
  bool remove(1: string token, 2: string id, 3: string owner_id) throws (1: AuthError auth),
}
