use super::*;

/// miniupnpd 2.3's description, shortened (IGD 1 with its three services).
pub(crate) const MINIUPNPD: &str = r#"<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>
<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
<friendlyName>Debian router</friendlyName>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId><controlURL>/ctl/L3F</controlURL>
<eventSubURL>/evt/L3F</eventSubURL><SCPDURL>/L3F.xml</SCPDURL></service></serviceList>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId><controlURL>/ctl/IPConn</controlURL>
<eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL></service></serviceList>
</device></deviceList></device></deviceList>
<presentationURL>http://192.168.77.1/</presentationURL></device></root>"#;

#[test]
fn the_wan_ip_service_and_its_control_url_are_found() {
    let d = parse_description(MINIUPNPD.as_bytes()).unwrap();
    assert_eq!(d.service, ServiceType::WanIp1);
    assert_eq!(d.control_url, "/ctl/IPConn");
    assert_eq!(d.url_base, None);
}

#[test]
fn the_best_service_wins_and_prefixes_entities_and_url_base_are_read() {
    let xml = r#"<?xml version="1.0"?><r:root xmlns:r="urn:schemas-upnp-org:device-1-0">
<r:URLBase>http://10.0.0.1:5000</r:URLBase><r:device><r:serviceList>
<r:service><r:serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</r:serviceType>
<r:controlURL>/ppp</r:controlURL></r:service>
<r:service><r:serviceType>urn:schemas-upnp-org:service:WANIPConnection:2</r:serviceType>
<r:controlURL> ctl?a=1&amp;b=&#50; </r:controlURL></r:service>
<r:service><r:serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</r:serviceType>
<r:controlURL>/ip1</r:controlURL></r:service>
</r:serviceList></r:device></r:root>"#;
    let d = parse_description(xml.as_bytes()).unwrap();
    assert_eq!(d.service, ServiceType::WanIp2);
    assert_eq!(d.control_url, "ctl?a=1&b=2");
    assert_eq!(d.url_base.as_deref(), Some("http://10.0.0.1:5000"));
}

#[test]
fn soap_answers_give_the_address_or_the_fault_code() {
    let ok = br#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">
<NewExternalIPAddress>100.200.0.1</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>"#;
    assert_eq!(external_address(ok), Ok(Ipv4Addr::new(100, 200, 0, 1)));
    let fault = br#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>
<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>725</errorCode>
<errorDescription>OnlyPermanentLeasesSupported</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"#;
    assert_eq!(fault_code(fault), Ok(725));
    assert_eq!(
        external_address(fault),
        Err(XmlError::Missing("NewExternalIPAddress"))
    );
    let zero = String::from_utf8_lossy(ok).replace("100.200.0.1", "0.0.0.0");
    assert_eq!(
        external_address(zero.as_bytes()),
        Err(XmlError::Missing("NewExternalIPAddress"))
    );
}

#[test]
fn hostile_documents_are_refused_within_bounds() {
    let big = vec![b' '; MAX_XML + 1];
    assert_eq!(
        parse_description(&big),
        Err(XmlError::TooLarge(MAX_XML + 1))
    );
    let deep = "<a>".repeat(MAX_DEPTH + 1);
    assert_eq!(parse_description(deep.as_bytes()), Err(XmlError::TooDeep));
    let long = format!("<a>{}</a>", "x".repeat(MAX_TEXT + 1));
    assert_eq!(
        parse_description(long.as_bytes()),
        Err(XmlError::TextTooLong)
    );
    let refs = format!("<a>{}</a>", "&amp;".repeat(MAX_TEXT + 1));
    assert_eq!(
        parse_description(refs.as_bytes()),
        Err(XmlError::TextTooLong)
    );
    assert!(matches!(
        parse_description(b"<a><b></a>"),
        Err(XmlError::Malformed(_))
    ));
    assert!(matches!(
        parse_description(b"<a>&lol;</a>"),
        Err(XmlError::Malformed(_))
    ));
    let dtd = br#"<!DOCTYPE r [<!ENTITY x "urn:schemas-upnp-org:service:WANIPConnection:1">]>
<root><service><serviceType>&x;</serviceType><controlURL>/c</controlURL></service></root>"#;
    assert!(matches!(
        parse_description(dtd),
        Err(XmlError::Malformed(_))
    ));
    assert_eq!(parse_description(b"<root/>"), Err(XmlError::NoWanService));
    assert_eq!(parse_description(b""), Err(XmlError::NoWanService));
    assert_eq!(
        fault_code(b"<errorCode>x</errorCode>"),
        Err(XmlError::Missing("errorCode"))
    );
    assert!(matches!(
        parse_description(&[0xff, 0xfe, b'<', 0xc3]),
        Err(XmlError::Malformed(_)) | Err(XmlError::NoWanService)
    ));
}
