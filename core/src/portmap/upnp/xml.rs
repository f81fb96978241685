//! The XML a UPnP gateway sends: its device description (which service maps ports, and its
//! control URL) and the SOAP answers of that service. Read with quick-xml (which expands no
//! DTD or custom entity), within bounds on size, depth and text length.

use std::fmt;
use std::net::Ipv4Addr;

use quick_xml::events::Event;

/// The largest document read (descriptions are a few KiB).
pub const MAX_XML: usize = 64 * 1024;
const MAX_DEPTH: usize = 32;
const MAX_TEXT: usize = 2048;

/// Why a document could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XmlError {
    /// Longer than [`MAX_XML`].
    TooLarge(usize),
    /// Elements nested deeper than 32.
    TooDeep,
    /// An element's text is longer than 2 KiB.
    TextTooLong,
    /// Not well-formed (at this byte offset), or not UTF-8.
    Malformed(u64),
    /// The description names no WANIPConnection or WANPPPConnection service.
    NoWanService,
    /// An expected element is missing or its text is not what it should be.
    Missing(&'static str),
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge(n) => write!(f, "XML document of {n} bytes"),
            Self::TooDeep => f.write_str("XML nested too deep"),
            Self::TextTooLong => f.write_str("XML text too long"),
            Self::Malformed(at) => write!(f, "malformed XML at byte {at}"),
            Self::NoWanService => f.write_str("no WAN connection service in the description"),
            Self::Missing(name) => write!(f, "no valid <{name}> in the answer"),
        }
    }
}

impl std::error::Error for XmlError {}

/// Calls `on(path, text)` as each element closes: `path` the local names (namespace prefixes
/// dropped) from the root to it, `text` its own text after its last child, trimmed, with
/// character and predefined entity references resolved.
fn scan(xml: &[u8], mut on: impl FnMut(&[Vec<u8>], &str)) -> Result<(), XmlError> {
    if xml.len() > MAX_XML {
        return Err(XmlError::TooLarge(xml.len()));
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut text = String::new();
    loop {
        let malformed =
            |reader: &quick_xml::Reader<&[u8]>| XmlError::Malformed(reader.buffer_position());
        let event = reader.read_event().map_err(|_| malformed(&reader))?;
        match event {
            Event::Start(_) | Event::Empty(_) if path.len() >= MAX_DEPTH => {
                return Err(XmlError::TooDeep);
            }
            Event::Start(e) => {
                path.push(e.local_name().as_ref().to_vec());
                text.clear();
            }
            Event::Empty(e) => {
                path.push(e.local_name().as_ref().to_vec());
                on(&path, "");
                path.pop();
                text.clear();
            }
            Event::End(_) => {
                on(&path, text.trim());
                path.pop();
                text.clear();
            }
            Event::Text(t) => text.push_str(&t.decode().map_err(|_| malformed(&reader))?),
            Event::CData(t) => text.push_str(&t.decode().map_err(|_| malformed(&reader))?),
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|_| malformed(&reader))?;
                match r.resolve_char_ref() {
                    Ok(Some(c)) => text.push(c),
                    Ok(None) => text.push_str(
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| malformed(&reader))?,
                    ),
                    Err(_) => return Err(malformed(&reader)),
                }
            }
            Event::Eof => return Ok(()),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
        if text.len() > MAX_TEXT {
            return Err(XmlError::TextTooLong);
        }
    }
}

/// A service that maps ports, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ServiceType {
    /// `WANIPConnection:2` (IGD 2).
    WanIp2,
    /// `WANIPConnection:1`.
    WanIp1,
    /// `WANPPPConnection:1` (PPPoE links).
    WanPpp1,
}

impl ServiceType {
    /// The service type URN (also the SOAP namespace of its actions).
    pub fn urn(self) -> &'static str {
        match self {
            Self::WanIp2 => "urn:schemas-upnp-org:service:WANIPConnection:2",
            Self::WanIp1 => "urn:schemas-upnp-org:service:WANIPConnection:1",
            Self::WanPpp1 => "urn:schemas-upnp-org:service:WANPPPConnection:1",
        }
    }

    fn from_urn(urn: &str) -> Option<Self> {
        [Self::WanIp2, Self::WanIp1, Self::WanPpp1]
            .into_iter()
            .find(|s| s.urn() == urn)
    }
}

/// What a device description says about port mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// The best service that maps ports.
    pub service: ServiceType,
    /// Its control URL, as written (absolute, or relative to `url_base` or the description).
    pub control_url: String,
    /// The description's `URLBase`, if any (UPnP 1.0).
    pub url_base: Option<String>,
}

/// Reads a device description.
pub fn parse_description(xml: &[u8]) -> Result<Description, XmlError> {
    let mut best: Option<(ServiceType, String)> = None;
    let mut url_base = None;
    let (mut kind, mut control) = (None, String::new());
    scan(xml, |path, text| {
        let name = path.last().map_or(&b""[..], Vec::as_slice);
        let in_service = path.len() >= 2 && path[path.len() - 2] == b"service";
        match name {
            b"URLBase" if path.len() == 2 => url_base = Some(text.to_string()),
            b"serviceType" if in_service => kind = ServiceType::from_urn(text),
            b"controlURL" if in_service => control = text.to_string(),
            b"service" => {
                if let Some(service) = kind.take()
                    && !control.is_empty()
                    && best.as_ref().is_none_or(|(b, _)| service < *b)
                {
                    best = Some((service, std::mem::take(&mut control)));
                }
                control.clear();
            }
            _ => {}
        }
    })?;
    let (service, control_url) = best.ok_or(XmlError::NoWanService)?;
    Ok(Description {
        service,
        control_url,
        url_base: url_base.filter(|b| !b.is_empty()),
    })
}

/// The text of the first element named `name` (local name) anywhere in `xml`.
fn first_text(xml: &[u8], name: &str) -> Result<Option<String>, XmlError> {
    let mut found = None;
    scan(xml, |path, text| {
        if found.is_none() && path.last().is_some_and(|n| n == name.as_bytes()) {
            found = Some(text.to_string());
        }
    })?;
    Ok(found)
}

/// The `errorCode` of a SOAP fault (`UPnPError`), if the body is one.
pub fn fault_code(xml: &[u8]) -> Result<u16, XmlError> {
    first_text(xml, "errorCode")?
        .and_then(|code| code.parse().ok())
        .ok_or(XmlError::Missing("errorCode"))
}

/// The address in a `GetExternalIPAddress` answer.
pub fn external_address(xml: &[u8]) -> Result<Ipv4Addr, XmlError> {
    first_text(xml, "NewExternalIPAddress")?
        .and_then(|ip| ip.parse::<Ipv4Addr>().ok())
        .filter(|ip| !ip.is_unspecified() && !ip.is_broadcast())
        .ok_or(XmlError::Missing("NewExternalIPAddress"))
}

#[cfg(test)]
pub(crate) mod tests;
