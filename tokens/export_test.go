package tokens

import "encoding/base64"

// SignLegacy makes a token in the signed, unencrypted format Sign made
// before encryption, for tests of the transition.
func SignLegacy(s *Signer, kind, payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(s.legacyMAC(kind, payload))
}
