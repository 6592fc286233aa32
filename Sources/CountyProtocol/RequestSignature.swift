// HMAC-SHA256 request signatures: the county API verifies them, `county pull` and the HTTP push
// make them. One definition of the canonical text, so signer and verifier cannot drift apart.
// The scheme is documented in docs/county-api.md.
import Crypto
import Foundation

/// The headers and the canonical text of a signed request.
///
/// Signed text (UTF-8, fields joined by "\n"):
/// `METHOD`, `PATH?QUERY` exactly as sent, `STATION`, `TIMESTAMP` (Unix milliseconds, decimal),
/// `NONCE`, and the lowercase hex SHA-256 of the body (of zero bytes when there is none).
/// The signature is the lowercase hex HMAC-SHA256 of that text under the station's key.
package enum RequestSignature {
    package static let stationHeader = "X-VG-Station"
    package static let timestampHeader = "X-VG-Timestamp"
    package static let nonceHeader = "X-VG-Nonce"
    package static let signatureHeader = "X-VG-Signature"
    /// Nonces are 16 to 64 characters of [0-9A-Za-z_-]; `sign` makes 32 hex digits.
    package static let nonceCharactersAllowed = 16...64

    /// The answer's signature: the box signs every answer to a request with a well-formed nonce,
    /// and `county pull` refuses an answer it cannot verify (docs/county-api.md).
    package static let responseSignatureHeader = "X-VG-Response-Signature"

    package static func isWellFormedNonce(_ nonce: String) -> Bool {
        nonceCharactersAllowed.contains(nonce.utf8.count)
            && nonce.utf8.allSatisfy { byte in
                (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                    || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            }
    }

    /// Signed text of an answer (UTF-8, joined by "\n"): `RESPONSE`, `STATION`, the request's
    /// `NONCE`, the HTTP status code, and the lowercase hex SHA-256 of the answer's body. The nonce
    /// ties the answer to the one request, so an answer recorded earlier cannot be played back.
    package static func responseText(station: String, nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        answerText(AnswerKind.response, station: station, nonce: nonce, status: status, body: body)
    }

    /// What an answer answers: the box's answer to the county's request (`RESPONSE`), or the
    /// county's receipt for the box's push (`RECEIPT`). Both sides sign with the one station key,
    /// so the first word keeps one kind from ever being taken for the other.
    package enum AnswerKind: String, Sendable {
        case response = "RESPONSE"
        case receipt = "RECEIPT"
    }

    package static func answerText(_ kind: AnswerKind, station: String, nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        [kind.rawValue, station, nonce, String(status), SHA256.hash(data: Array(body)).hexText].joined(separator: "\n")
    }

    /// The county's signature of its receipt for a push (docs/county-api.md, "Push"): the box marks
    /// reports delivered only on a receipt it can verify, so nobody on the path can make it forget
    /// reports the county never stored.
    package static func receiptSignature(key: SigningKey, station: String, nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        signature(key: key, canonicalText: answerText(.receipt, station: station, nonce: nonce, status: status, body: body))
    }

    package static func isGenuineReceipt(key: SigningKey, station: String, nonce: String, status: Int, body: some Sequence<UInt8>, signature: String?) -> Bool {
        isGenuine(signature, text: answerText(.receipt, station: station, nonce: nonce, status: status, body: body), key: key)
    }

    package static func responseSignature(key: SigningKey, station: String, nonce: String, status: Int, body: some Sequence<UInt8>) -> String {
        signature(key: key, canonicalText: responseText(station: station, nonce: nonce, status: status, body: body))
    }

    /// True when `signature` is the box's signature of this answer to the request with `nonce`.
    package static func isGenuineResponse(key: SigningKey, station: String, nonce: String, status: Int, body: some Sequence<UInt8>, signature: String?) -> Bool {
        isGenuine(signature, text: responseText(station: station, nonce: nonce, status: status, body: body), key: key)
    }

    private static func isGenuine(_ signature: String?, text: String, key: SigningKey) -> Bool {
        guard let signature, signature.utf8.count == 64, let given = SigningKey.hexBytes(signature) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Array(text.utf8), using: key.symmetricKey)
    }

    package static func canonicalText(method: String, pathAndQuery: String, station: String, timestampMilliseconds: Int64, nonce: String, body: some Sequence<UInt8>) -> String {
        let bodyDigest = SHA256.hash(data: Array(body)).hexText
        return [method.uppercased(), pathAndQuery, station, String(timestampMilliseconds), nonce, bodyDigest].joined(separator: "\n")
    }

    package static func signature(key: SigningKey, canonicalText: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Array(canonicalText.utf8), using: key.symmetricKey).hexText
    }

    /// The four headers for a request, with a fresh random nonce.
    package static func headers(key: SigningKey, method: String, pathAndQuery: String, station: String, timestampMilliseconds: Int64, body: some Sequence<UInt8>) -> [(name: String, value: String)] {
        var generator = SystemRandomNumberGenerator()
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexText
        let text = canonicalText(method: method, pathAndQuery: pathAndQuery, station: station, timestampMilliseconds: timestampMilliseconds, nonce: nonce, body: body)
        return [
            (stationHeader, station),
            (timestampHeader, String(timestampMilliseconds)),
            (nonceHeader, nonce),
            (signatureHeader, signature(key: key, canonicalText: text)),
        ]
    }
}

/// A station's HMAC key. Written in its key file as hex (whitespace ignored), at least 32 bytes.
package struct SigningKey: Sendable, Equatable {
    package static let bytesMin = 32
    package static let bytesMax = 128
    package let bytes: [UInt8]

    package var symmetricKey: SymmetricKey { SymmetricKey(data: bytes) }

    package init(bytes: [UInt8]) throws(SigningKeyError) {
        guard bytes.count >= Self.bytesMin else { throw .tooShort(bytes: bytes.count) }
        guard bytes.count <= Self.bytesMax else { throw .tooLong(bytes: bytes.count) }
        self.bytes = bytes
    }

    package init(hex text: String) throws(SigningKeyError) {
        let digits = String(String.UnicodeScalarView(text.unicodeScalars.filter { !$0.properties.isWhitespace }))
        guard let bytes = Self.hexBytes(digits) else { throw .notHex }
        try self.init(bytes: bytes)
    }

    /// Reads a key file; the error names the file and what to put in it.
    package static func load(path: String) throws(SigningKeyError) -> SigningKey {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path) }
        guard data.count <= bytesMax * 4 else { throw .inFile(path: path, .tooLong(bytes: data.count / 2)) }
        do {
            return try SigningKey(hex: String(decoding: data, as: UTF8.self))
        } catch {
            throw .inFile(path: path, error)
        }
    }
}

package indirect enum SigningKeyError: Error, CustomStringConvertible, Equatable {
    case tooShort(bytes: Int)
    case tooLong(bytes: Int)
    case notHex
    case unreadable(path: String)
    case inFile(path: String, SigningKeyError)

    package var description: String {
        switch self {
        case .tooShort(let bytes): "the key has \(bytes) bytes; it must have at least \(SigningKey.bytesMin) (\(SigningKey.bytesMin * 2) hex digits), e.g. from `openssl rand -hex 32`"
        case .tooLong(let bytes): "the key has \(bytes) bytes; at most \(SigningKey.bytesMax) are accepted"
        case .notHex: "the key must be written as hex digits (0-9, a-f), e.g. from `openssl rand -hex 32`"
        case .unreadable(let path): "cannot read the key file \(path); create it with `openssl rand -hex 32 > \(path)` and `chmod 600 \(path)`"
        case .inFile(let path, let inner): "key file \(path): \(inner.description)"
        }
    }
}

extension SigningKey {
    package static func hexBytes(_ text: String) -> [UInt8]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.count.isMultiple(of: 2), !scalars.isEmpty else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < scalars.count {
            guard let high = scalars[index].hexValue, let low = scalars[index + 1].hexValue else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

extension Unicode.Scalar {
    fileprivate var hexValue: UInt8? {
        switch value {
        case 0x30...0x39: UInt8(value - 0x30)
        case 0x61...0x66: UInt8(value - 0x61 + 10)
        case 0x41...0x46: UInt8(value - 0x41 + 10)
        default: nil
        }
    }
}

extension Sequence where Element == UInt8 {
    package var hexText: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Digest {
    package var hexText: String { Array(self).hexText }
}

extension HashedAuthenticationCode {
    package var hexText: String { Array(self).hexText }
}
