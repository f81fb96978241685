//! The HTTP requests to a UPnP gateway: the GET of its device description and the SOAP
//! calls of its WAN connection service (`AddPortMapping`, `DeletePortMapping`,
//! `GetExternalIPAddress`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use super::xml::ServiceType;
use crate::portmap::Protocol;
use crate::tracker::TrackerUrl;
use crate::tracker::http::USER_AGENT;

/// The fault code of a gateway that takes only permanent mappings (lease 0).
pub const ONLY_PERMANENT_LEASES: u16 = 725;
/// The fault code of an external port already mapped to someone else.
pub const CONFLICT: u16 = 718;
/// The fault code of a gateway that wants the external port equal to the internal one.
pub const SAME_PORT_REQUIRED: u16 = 724;
/// The fault code of a removal of a mapping the gateway does not have.
pub const NO_SUCH_ENTRY: u16 = 714;

/// What the mappings are called on the gateway.
pub const DESCRIPTION: &str = "sanstorrent";

fn target(url: &TrackerUrl) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

/// The GET of a device description at `url`.
pub fn get(url: &TrackerUrl) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Accept-Encoding: identity\r\nConnection: close\r\n\r\n",
        target(url),
        url.host_header()
    )
    .into_bytes()
}

/// A SOAP call of `service`'s `action` with `args` (names and values, escaped here).
fn call(url: &TrackerUrl, service: ServiceType, action: &str, args: &[(&str, String)]) -> Vec<u8> {
    let urn = service.urn();
    let mut body = format!(
        "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" \
         s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>\
         <u:{action} xmlns:u=\"{urn}\">"
    );
    for (name, value) in args {
        let value = quick_xml::escape::escape(value.as_str());
        let _ = write!(body, "<{name}>{value}</{name}>");
    }
    let _ = write!(body, "</u:{action}></s:Body></s:Envelope>\r\n");
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {USER_AGENT}\r\n\
         Content-Type: text/xml; charset=\"utf-8\"\r\nSOAPAction: \"{urn}#{action}\"\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        target(url),
        url.host_header(),
        body.len()
    );
    request.push_str(&body);
    request.into_bytes()
}

fn protocol_name(protocol: Protocol) -> String {
    match protocol {
        Protocol::Tcp => "TCP".into(),
        Protocol::Udp => "UDP".into(),
    }
}

/// A port mapping to ask for or remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappingCall {
    /// The transport.
    pub protocol: Protocol,
    /// The gateway's port.
    pub external_port: u16,
    /// Our port.
    pub internal_port: u16,
    /// Our address on the LAN.
    pub client: Ipv4Addr,
}

/// `AddPortMapping` of `m` for `lease` seconds (0: permanent).
pub fn add_port_mapping(
    url: &TrackerUrl,
    service: ServiceType,
    m: &MappingCall,
    lease: u32,
) -> Vec<u8> {
    call(
        url,
        service,
        "AddPortMapping",
        &[
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", m.external_port.to_string()),
            ("NewProtocol", protocol_name(m.protocol)),
            ("NewInternalPort", m.internal_port.to_string()),
            ("NewInternalClient", m.client.to_string()),
            ("NewEnabled", "1".into()),
            ("NewPortMappingDescription", DESCRIPTION.into()),
            ("NewLeaseDuration", lease.to_string()),
        ],
    )
}

/// `DeletePortMapping` of `m`.
pub fn delete_port_mapping(url: &TrackerUrl, service: ServiceType, m: &MappingCall) -> Vec<u8> {
    call(
        url,
        service,
        "DeletePortMapping",
        &[
            ("NewRemoteHost", String::new()),
            ("NewExternalPort", m.external_port.to_string()),
            ("NewProtocol", protocol_name(m.protocol)),
        ],
    )
}

/// `GetExternalIPAddress`.
pub fn get_external_ip(url: &TrackerUrl, service: ServiceType) -> Vec<u8> {
    call(url, service, "GetExternalIPAddress", &[])
}
