/**
 * Why the broker refused: a failed connect (a refused CONNACK, a TLS failure,
 * a refused TCP connection) or a refused subscription, in words an operator
 * can act on — named in the reconnect line and in `/readyz`.
 * @module
 */
import { errorMessage } from "../log.ts";

/** Broker refusals and TLS failures, each with what to check. */
const _TLS_HINTS: [RegExp, string][] = [
  [
    /UnknownIssuer|unable to (get|verify)|self[- ]signed/i,
    "the broker's certificate is not signed by the CA in mqtt.tls.caFile",
  ],
  [
    /Expired|CERT_HAS_EXPIRED|certificate has expired/i,
    "a certificate has expired (or is not valid yet)",
  ],
  [
    /NotValidForName|ALTNAME|does not match|not valid for/i,
    "the broker's certificate is not valid for the host name in mqtt.url",
  ],
  [
    /CertificateRequired|certificate required|alert.*certificate|handshake failure/i,
    "the broker wants a client certificate (mqtt.tls.certFile, keyFile) it accepts",
  ],
  [/Bad username or password|Bad User Name or Password/i, "check mqtt.username and mqtt.password"],
  [/Not authori[sz]ed/i, "the broker's ACL or password file does not admit this client"],
];

/** The reason of a failed connect, with a hint where one is known (e.g. TLS, CONNACK refusals). */
export function connectError(err: unknown): string {
  const text = errorMessage(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  const withCode = typeof code === "string" && !text.includes(code) ? `${text} (${code})` : text;
  const hint = _TLS_HINTS.find(([re]) => re.test(withCode))?.[1];
  return hint ? `${withCode}: ${hint}` : withCode;
}

/** Why a SUBACK refused a subscription (`code`: 0x80 or more). */
export function subackText(code: number): string {
  return code === 0x87
    ? "refused by the broker: not authorized (an ACL?)"
    : `refused by the broker (SUBACK code 0x${code.toString(16)})`;
}
