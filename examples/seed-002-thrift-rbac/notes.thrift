/* Seed 002's notes service. Every method takes the caller's Warden access token and declares
   how it refuses: a typed AccessDenied, never a transport error. */

exception AccessDenied {
  1: i32 code,       // 401: the token is refused; 403: the caller may not; 503: Warden is unreachable
  2: string error,   // the RFC 6750 code: invalid_token, insufficient_scope, temporarily_unavailable
  3: string message, // what went wrong, safe to show
}

service Notes {
  list<string> list_notes(1: string token) throws (1: AccessDenied denied),            // guest and up
  void add_note(1: string token, 2: string text) throws (1: AccessDenied denied),      // user and up
  void clear_notes(1: string token) throws (1: AccessDenied denied),                   // admin
}
