// Verifies a Warden access token with the npm `jose` library at its defaults: keys from the
// published JWKS, RFC 9068 `at+jwt` type, issuer and audience pinned. Exit 0 when it verifies.
// Usage: node verify.mjs <issuer> <token>
import { createRemoteJWKSet, jwtVerify } from "jose";

const [issuer, token] = process.argv.slice(2);
const keys = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
try {
  const { payload, protectedHeader } = await jwtVerify(token, keys, {
    issuer,
    audience: "warden",
    typ: "at+jwt",
  });
  console.log(`verified ${protectedHeader.alg} token of ${payload.sub}`);
} catch (err) {
  console.log(`refused: ${err.code ?? err.message}`);
  process.exit(1);
}
