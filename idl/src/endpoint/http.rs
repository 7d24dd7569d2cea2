//! The body of a Kaa HTTP sync (`POST /BS/Sync`, `/EP/Sync`, `/EP/LongSync`): a
//! `multipart/form-data` form whose parts carry the request's signature, wrapped session key,
//! encrypted sync request and payload protocol id, as [`SyncBody`].
//!
//! [`SyncBody::parse`] reads any well-formed form the way Kaa's server did: only parts named
//! `signature`, `requestKey`, `requestData` and `nextProtocol` count, parts with a filename
//! (file uploads) are skipped, the last of two same-named parts wins, and part bodies are raw
//! bytes (`binary`, `8bit` or `7bit` transfer encoding). [`SyncBody::encode`] writes the exact
//! shape the Java SDK's HTTP client (Apache httpmime, strict mode) sends.
//!
//! The response side needs no codec: its body is the encrypted `SyncResponse`, described by the
//! header constants here.

/// `Content-Type` of every sync response; the quotes are part of Kaa's value.
pub const RESPONSE_CONTENT_TYPE: &str = "\"application/x-kaa\"";
/// Response header naming the kind of answer; Kaa's value is [`RESPONSE_TYPE_OPERATION`].
pub const RESPONSE_TYPE_HEADER: &str = "X-RESPONSETYPE";
/// The [`RESPONSE_TYPE_HEADER`] value.
pub const RESPONSE_TYPE_OPERATION: &str = "operation";
/// Bootstrap response header: base64 of the bootstrap key's signature over the plain response.
pub const SIGNATURE_HEADER: &str = "X-SIGNATURE";

/// Part: SHA1withRSA signature of `requestKey` by the endpoint (Operations only).
pub const PART_SIGNATURE: &str = "signature";
/// Part: the AES session key wrapped under the server's RSA key.
pub const PART_REQUEST_KEY: &str = "requestKey";
/// Part: the encrypted `SyncRequest`.
pub const PART_REQUEST_DATA: &str = "requestData";
/// Part: the payload protocol id, 4 bytes big-endian; absent means Avro (v1).
pub const PART_NEXT_PROTOCOL: &str = "nextProtocol";

/// Kaa's default cap on an HTTP sync body (`maxBodySize`).
pub const DEFAULT_MAX_BODY_SIZE: usize = 512 * 1024;

/// Why a body is not a Kaa sync form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The request's Content-Type is not `multipart/form-data` with a boundary.
    #[error("content type is not multipart/form-data with a boundary: {0:?}")]
    NotMultipart(String),
    /// The boundary is empty, longer than 70 characters or holds a line break.
    #[error("invalid multipart boundary")]
    BadBoundary,
    /// The body is larger than allowed.
    #[error("body of {size} bytes exceeds the maximum of {max}")]
    BodyTooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The body holds more parts than allowed.
    #[error("more than {0} parts")]
    TooManyParts(usize),
    /// The body does not contain the boundary.
    #[error("no multipart boundary in the body")]
    NoBoundary,
    /// A part is not closed by a boundary, or the form by its closing boundary.
    #[error("multipart body ends inside a part")]
    Unterminated,
    /// A boundary line has something other than whitespace after the boundary.
    #[error("malformed boundary line")]
    BadBoundaryLine,
    /// A part's headers are malformed or too long.
    #[error("malformed part headers: {0}")]
    BadHeaders(&'static str),
    /// A part without `Content-Disposition: form-data; name=...`.
    #[error("part without a form-data name")]
    NoPartName,
    /// A part in a transfer encoding other than `binary`, `8bit` or `7bit`.
    #[error("unsupported Content-Transfer-Encoding {0:?}")]
    UnsupportedTransferEncoding(String),
    /// A part every sync needs is missing.
    #[error("missing part {0:?}")]
    MissingPart(&'static str),
    /// `nextProtocol` is shorter than 4 bytes.
    #[error("nextProtocol part has {0} bytes, needs 4")]
    BadNextProtocol(usize),
}

/// The limits [`SyncBody::parse_with`] enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartLimits {
    /// Largest body accepted.
    pub max_body_size: usize,
    /// Most parts accepted, counting ignored ones.
    pub max_parts: usize,
    /// Largest header block of one part.
    pub max_header_size: usize,
}

impl Default for MultipartLimits {
    fn default() -> Self {
        Self {
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            max_parts: 16,
            max_header_size: 4096,
        }
    }
}

/// The parts of a sync request sent over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBody {
    /// `signature`: the endpoint's signature over `request_key`; bootstrap requests have none.
    pub signature: Option<Vec<u8>>,
    /// `requestKey`: the 256-byte wrapped AES session key.
    pub request_key: Vec<u8>,
    /// `requestData`: the `SyncRequest`, encrypted under the session key.
    pub request_data: Vec<u8>,
    /// `nextProtocol`: the payload protocol id; `None` means Avro (v1).
    pub next_protocol: Option<u32>,
}

/// The boundary named by a request's `Content-Type` header, which must be `multipart/form-data`.
pub fn boundary(content_type: &str) -> Result<&str, MultipartError> {
    let not_multipart = || MultipartError::NotMultipart(content_type.to_owned());
    let mut params = split_params(content_type);
    let media_type = params.next().ok_or_else(not_multipart)?;
    if !media_type
        .trim()
        .eq_ignore_ascii_case("multipart/form-data")
    {
        return Err(not_multipart());
    }
    params
        .filter_map(param)
        .find(|(name, _)| name.eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value)
        .ok_or_else(not_multipart)
}

/// The request's `Content-Type` header value for a body built with `boundary`.
pub fn content_type(boundary: &str) -> String {
    format!("multipart/form-data; boundary={boundary}")
}

impl SyncBody {
    /// Parses a form under the default [`MultipartLimits`].
    pub fn parse(body: &[u8], boundary: &str) -> Result<Self, MultipartError> {
        Self::parse_with(body, boundary, &MultipartLimits::default())
    }

    /// Parses a form whose parts are separated by `boundary` (see [`boundary`]).
    pub fn parse_with(
        body: &[u8],
        boundary: &str,
        limits: &MultipartLimits,
    ) -> Result<Self, MultipartError> {
        if body.len() > limits.max_body_size {
            return Err(MultipartError::BodyTooLarge {
                size: body.len(),
                max: limits.max_body_size,
            });
        }
        let mut signature = None;
        let mut request_key = None;
        let mut request_data = None;
        let mut next_protocol = None;
        for part in parts(body, boundary, limits)? {
            let Some(name) = part.name else { continue };
            let slot = match name.as_str() {
                PART_SIGNATURE => &mut signature,
                PART_REQUEST_KEY => &mut request_key,
                PART_REQUEST_DATA => &mut request_data,
                PART_NEXT_PROTOCOL => &mut next_protocol,
                _ => continue,
            };
            *slot = Some(part.content);
        }
        let next_protocol = next_protocol
            .map(|bytes| match bytes.first_chunk::<4>() {
                Some(id) => Ok(u32::from_be_bytes(*id)),
                None => Err(MultipartError::BadNextProtocol(bytes.len())),
            })
            .transpose()?;
        Ok(Self {
            signature: signature.map(<[u8]>::to_vec),
            request_key: request_key
                .ok_or(MultipartError::MissingPart(PART_REQUEST_KEY))?
                .to_vec(),
            request_data: request_data
                .ok_or(MultipartError::MissingPart(PART_REQUEST_DATA))?
                .to_vec(),
            next_protocol,
        })
    }

    /// The form as the Java SDK sends it, parts separated by `boundary` (1 to 70 characters from
    /// `[0-9A-Za-z'()+_,-./:=?]`, httpmime uses 30 to 40 of `[-_0-9A-Za-z]`); send it with
    /// [`content_type`]`(boundary)`.
    pub fn encode(&self, boundary: &str) -> Vec<u8> {
        let next_protocol = self.next_protocol.map(u32::to_be_bytes);
        let parts = [
            (PART_SIGNATURE, self.signature.as_deref()),
            (PART_REQUEST_KEY, Some(&self.request_key[..])),
            (PART_REQUEST_DATA, Some(&self.request_data[..])),
            (PART_NEXT_PROTOCOL, next_protocol.as_ref().map(|id| &id[..])),
        ];
        let mut out = Vec::new();
        for (name, content) in parts {
            let Some(content) = content else { continue };
            out.extend_from_slice(b"--");
            out.extend_from_slice(boundary.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\
                     Content-Transfer-Encoding: binary\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        out
    }
}

/// One part of a form, borrowed from the body.
struct Part<'a> {
    /// The form-data name, or `None` for a file upload.
    name: Option<String>,
    content: &'a [u8],
}

/// The parts of a multipart body, in order.
fn parts<'a>(
    body: &'a [u8],
    boundary: &str,
    limits: &MultipartLimits,
) -> Result<Vec<Part<'a>>, MultipartError> {
    if boundary.is_empty() || boundary.len() > 70 || boundary.contains(['\r', '\n']) {
        return Err(MultipartError::BadBoundary);
    }
    let dash_boundary = [b"--", boundary.as_bytes()].concat();
    let delimiter = [b"\r\n", &dash_boundary[..]].concat();
    // The first boundary opens the body or follows a preamble line.
    let mut rest = if body.starts_with(&dash_boundary) {
        &body[dash_boundary.len()..]
    } else {
        let at = find(body, &delimiter).ok_or(MultipartError::NoBoundary)?;
        &body[at + delimiter.len()..]
    };
    let mut parts = Vec::new();
    // Here `rest` follows a boundary: `--` closes the form, a line end opens a part.
    while !rest.starts_with(b"--") {
        let line_end = find(rest, b"\r\n").ok_or(MultipartError::Unterminated)?;
        if !rest[..line_end].iter().all(|b| matches!(b, b' ' | b'\t')) {
            return Err(MultipartError::BadBoundaryLine);
        }
        rest = &rest[line_end + 2..];
        if parts.len() == limits.max_parts {
            return Err(MultipartError::TooManyParts(limits.max_parts));
        }
        let (name, content_start) = part_headers(rest, limits.max_header_size)?;
        let rest_of_part = &rest[content_start..];
        let content_len = find(rest_of_part, &delimiter).ok_or(MultipartError::Unterminated)?;
        parts.push(Part {
            name,
            content: &rest_of_part[..content_len],
        });
        rest = &rest_of_part[content_len + delimiter.len()..];
    }
    Ok(parts)
}

/// Reads a part's header block from the start of `input`: the part's form-data name (`None` for
/// a file) and where its content starts.
fn part_headers(input: &[u8], max_size: usize) -> Result<(Option<String>, usize), MultipartError> {
    let window = &input[..input.len().min(max_size + 4)];
    let end = if window.starts_with(b"\r\n") {
        0
    } else {
        find(window, b"\r\n\r\n").ok_or(if window.len() > max_size {
            MultipartError::BadHeaders("header block too long")
        } else {
            MultipartError::Unterminated
        })? + 2
    };
    let block = std::str::from_utf8(&input[..end])
        .map_err(|_| MultipartError::BadHeaders("header is not UTF-8"))?;
    // Unfold continuation lines, then read each `Name: value`.
    let mut headers: Vec<(&str, String)> = Vec::new();
    for line in block.split_terminator("\r\n") {
        if line.starts_with([' ', '\t']) {
            let (_, value) = headers
                .last_mut()
                .ok_or(MultipartError::BadHeaders("continuation before any header"))?;
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(MultipartError::BadHeaders("header line without a colon"))?;
        headers.push((name.trim(), value.trim().to_owned()));
    }
    let header = |wanted: &str| {
        headers
            .iter()
            .rev()
            .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.as_str())
    };
    if let Some(encoding) = header("Content-Transfer-Encoding")
        && !["binary", "8bit", "7bit"]
            .iter()
            .any(|ok| encoding.eq_ignore_ascii_case(ok))
    {
        return Err(MultipartError::UnsupportedTransferEncoding(
            encoding.to_owned(),
        ));
    }
    let disposition = header("Content-Disposition").ok_or(MultipartError::NoPartName)?;
    let mut params = split_params(disposition);
    if !params
        .next()
        .is_some_and(|kind| kind.trim().eq_ignore_ascii_case("form-data"))
    {
        return Err(MultipartError::NoPartName);
    }
    let mut name = None;
    let mut is_file = false;
    for (key, value) in params.filter_map(param) {
        if key.eq_ignore_ascii_case("name") {
            name = Some(value);
        } else if key.eq_ignore_ascii_case("filename") || key.eq_ignore_ascii_case("filename*") {
            is_file = true;
        }
    }
    let name = name.ok_or(MultipartError::NoPartName)?;
    Ok(((!is_file).then(|| name.to_owned()), end + 2))
}

/// Splits a header value at the `;` that are not inside quotes.
fn split_params(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let text = rest?;
        let mut quoted = false;
        let mut escaped = false;
        for (i, c) in text.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ';' if !quoted => {
                    rest = Some(&text[i + 1..]);
                    return Some(&text[..i]);
                }
                _ => {}
            }
        }
        rest = None;
        Some(text)
    })
}

/// A `key=value` parameter; quotes around the value are removed (escapes inside them are
/// kept, which Kaa's names never contain).
fn param(text: &str) -> Option<(&str, &str)> {
    let (key, value) = text.split_once('=')?;
    let value = value.trim();
    let value = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    Some((key.trim(), value))
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::collection::vec;
    use proptest::prelude::*;

    const BOUNDARY: &str = "Xq1-_Zr8KZ3cAbcdEfgh0123456789ab";

    fn sample() -> SyncBody {
        SyncBody {
            signature: Some(vec![0xaa; 256]),
            request_key: vec![0x0d, 0x0a, 0x2d, 0x2d, 0x00, 0xff],
            request_data: b"\r\n--not the boundary\r\n".to_vec(),
            next_protocol: Some(0xe0c0_c178),
        }
    }

    #[test]
    fn encode_is_the_httpmime_shape() {
        let body = SyncBody {
            signature: None,
            request_key: vec![1, 2],
            request_data: vec![3],
            next_protocol: Some(0xe0c0_c178),
        };
        let mut expected = Vec::new();
        for (name, content) in [
            ("requestKey", &[1_u8, 2][..]),
            ("requestData", &[3][..]),
            ("nextProtocol", &[0xe0, 0xc0, 0xc1, 0x78][..]),
        ] {
            expected.extend_from_slice(
                format!(
                    "--{BOUNDARY}\r\n\
                     Content-Disposition: form-data; name=\"{name}\"\r\n\
                     Content-Type: application/octet-stream\r\n\
                     Content-Transfer-Encoding: binary\r\n\
                     \r\n"
                )
                .as_bytes(),
            );
            expected.extend_from_slice(content);
            expected.extend_from_slice(b"\r\n");
        }
        expected.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        assert_eq!(body.encode(BOUNDARY), expected);
        assert_eq!(
            content_type(BOUNDARY),
            format!("multipart/form-data; boundary={BOUNDARY}")
        );
    }

    #[test]
    fn encoded_bodies_parse_back() {
        let body = sample();
        assert_eq!(SyncBody::parse(&body.encode(BOUNDARY), BOUNDARY), Ok(body));
        let bootstrap = SyncBody {
            signature: None,
            next_protocol: None,
            ..sample()
        };
        assert_eq!(
            SyncBody::parse(&bootstrap.encode(BOUNDARY), BOUNDARY),
            Ok(bootstrap)
        );
    }

    #[test]
    fn boundary_comes_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc-_1"),
            Ok("abc-_1")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=UTF-8; BOUNDARY=\"a b;c\""),
            Ok("a b;c")
        );
        assert!(matches!(
            boundary("application/x-www-form-urlencoded"),
            Err(MultipartError::NotMultipart(_))
        ));
        assert!(matches!(
            boundary("multipart/form-data"),
            Err(MultipartError::NotMultipart(_))
        ));
    }

    #[test]
    fn other_clients_forms_parse_too() {
        // Preamble, LWSP after boundaries, minimal and reordered headers, an unknown part, a
        // file part carrying a known name (ignored as Kaa ignores uploads), folded header, an
        // epilogue and an 8bit part.
        let body = b"preamble line\r\n\
            --b0undary  \r\n\
            content-disposition: form-data; name=requestData\r\n\
            \r\n\
            DATA\r\n\
            --b0undary\r\n\
            Content-Disposition: form-data; name=\"requestKey\"; filename=\"k.bin\"\r\n\
            \r\n\
            FILE\r\n\
            --b0undary\r\n\
            Content-Type: application/octet-stream\r\n\
            Content-Disposition: form-data;\r\n\
            \tname=\"requestKey\"\r\n\
            Content-Transfer-Encoding: 8BIT\r\n\
            \r\n\
            KEY\r\n\
            --b0undary\r\n\
            Content-Disposition: form-data; name=\"other\"\r\n\
            \r\n\
            x\r\n\
            --b0undary--\r\n\
            epilogue";
        assert_eq!(
            SyncBody::parse(body, "b0undary"),
            Ok(SyncBody {
                signature: None,
                request_key: b"KEY".to_vec(),
                request_data: b"DATA".to_vec(),
                next_protocol: None,
            })
        );
    }

    #[test]
    fn the_last_of_two_same_named_parts_wins_as_in_kaa() {
        let mut body = SyncBody {
            request_key: b"first".to_vec(),
            ..sample()
        }
        .encode(BOUNDARY);
        // Replace the closing delimiter by one more requestKey part.
        body.truncate(body.len() - (BOUNDARY.len() + 6));
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"requestKey\"\r\n\r\n\
                 second\r\n--{BOUNDARY}--\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(
            SyncBody::parse(&body, BOUNDARY).unwrap().request_key,
            b"second"
        );
    }

    #[test]
    fn malformed_forms_are_named_errors() {
        let good = sample().encode(BOUNDARY);
        let cases: Vec<(Vec<u8>, &str, MultipartError)> = vec![
            (good.clone(), "", MultipartError::BadBoundary),
            (good.clone(), "other", MultipartError::NoBoundary),
            (
                good[..good.len() - BOUNDARY.len() - 8].to_vec(),
                BOUNDARY,
                MultipartError::Unterminated,
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"requestKey\"\r\n\r\nK\r\n--b--"
                    .to_vec(),
                "b",
                MultipartError::MissingPart("requestData"),
            ),
            (
                b"--b\r\nContent-Type: x\r\n\r\nK\r\n--b--".to_vec(),
                "b",
                MultipartError::NoPartName,
            ),
            (
                b"--b\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nK\r\n--b--".to_vec(),
                "b",
                MultipartError::NoPartName,
            ),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\
                  Content-Transfer-Encoding: base64\r\n\r\nAA==\r\n--b--"
                    .to_vec(),
                "b",
                MultipartError::UnsupportedTransferEncoding("base64".into()),
            ),
            (
                b"--b\r\nno colon here\r\n\r\nK\r\n--b--".to_vec(),
                "b",
                MultipartError::BadHeaders("header line without a colon"),
            ),
            (b"--bx\r\n".to_vec(), "b", MultipartError::BadBoundaryLine),
            (
                b"--b\r\nContent-Disposition: form-data; name=\"requestKey\"\r\n\r\nK\r\n\
                  --b\r\nContent-Disposition: form-data; name=\"requestData\"\r\n\r\nD\r\n\
                  --b\r\nContent-Disposition: form-data; name=\"nextProtocol\"\r\n\r\n\x01\x02\r\n\
                  --b--"
                    .to_vec(),
                "b",
                MultipartError::BadNextProtocol(2),
            ),
        ];
        for (body, boundary, error) in cases {
            assert_eq!(
                SyncBody::parse(&body, boundary),
                Err(error.clone()),
                "{}",
                String::from_utf8_lossy(&body)
            );
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn limits_are_enforced() {
        let body = sample().encode(BOUNDARY);
        let tight = |f: fn(&mut MultipartLimits)| {
            let mut limits = MultipartLimits::default();
            f(&mut limits);
            SyncBody::parse_with(&body, BOUNDARY, &limits)
        };
        assert_eq!(
            tight(|l| l.max_body_size = 100),
            Err(MultipartError::BodyTooLarge {
                size: body.len(),
                max: 100
            })
        );
        assert_eq!(
            tight(|l| l.max_parts = 3),
            Err(MultipartError::TooManyParts(3))
        );
        assert_eq!(
            tight(|l| l.max_header_size = 40),
            Err(MultipartError::BadHeaders("header block too long"))
        );
        assert!(tight(|l| l.max_parts = 4).is_ok());
    }

    proptest! {
        #[test]
        fn any_body_round_trips(
            signature in proptest::option::of(vec(any::<u8>(), 0..300)),
            request_key in vec(any::<u8>(), 0..300),
            request_data in vec(any::<u8>(), 0..300),
            next_protocol in proptest::option::of(any::<u32>()),
            boundary in "[-_0-9A-Za-z]{30,40}",
        ) {
            let body = SyncBody { signature, request_key, request_data, next_protocol };
            prop_assert_eq!(SyncBody::parse(&body.encode(&boundary), &boundary), Ok(body));
        }
    }
}
