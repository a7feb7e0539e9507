/** Router replies captured from miniupnpd 2.3.1 (the natlab router), trimmed, for the codec tests. */

export const SSDP_REPLY =
  'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n' +
  'USN: uuid:3d3cec3a-8cf0-11e0-98ee-001a6bd2d07b::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n' +
  'EXT:\r\nSERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n' +
  'OPT: "http://schemas.upnp.org/upnp/1/0/"; ns=01\r\n01-NLS: 1795767380\r\nBOOTID.UPNP.ORG: 1795767380\r\n' +
  'CONFIGID.UPNP.ORG: 1337\r\n\r\n'

const device = (type: string, services: string, sub = ''): string =>
  `<device><deviceType>${type}</deviceType><friendlyName>x</friendlyName><serviceList>${services}</serviceList>` +
  `${sub ? `<deviceList>${sub}</deviceList>` : ''}</device>`
const service = (type: string, ctl: string): string =>
  `<service><serviceType>${type}</serviceType><serviceId>id</serviceId><SCPDURL>/x.xml</SCPDURL>` +
  `<controlURL>${ctl}</controlURL><eventSubURL>/evt</eventSubURL></service>`

/** IGD v2 description shaped like miniupnpd's. */
export const DESC_V2 =
  '<?xml version="1.0"?>\n<root xmlns="urn:schemas-upnp-org:device-1-0" configId="1337">' +
  '<specVersion><major>1</major><minor>1</minor></specVersion>' +
  device(
    'urn:schemas-upnp-org:device:InternetGatewayDevice:2',
    service('urn:schemas-upnp-org:service:Layer3Forwarding:1', '/ctl/L3F'),
    device(
      'urn:schemas-upnp-org:device:WANDevice:2',
      service('urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1', '/ctl/CmnIfCfg'),
      device(
        'urn:schemas-upnp-org:device:WANConnectionDevice:2',
        service('urn:schemas-upnp-org:service:WANIPConnection:2', '/ctl/IPConn') +
          service('urn:schemas-upnp-org:service:WANIPv6FirewallControl:1', '/ctl/IP6FCtl'),
      ),
    ),
  ) +
  '<presentationURL>http://192.168.1.1/</presentationURL></root>'

/** IGD v1 description with both IP and PPP services, a URLBase and namespace prefixes. */
export const DESC_V1 =
  '<?xml version="1.0" encoding="utf-8"?><!DOCTYPE root><!-- a comment --><d:root xmlns:d="urn:schemas-upnp-org:device-1-0">' +
  '<d:URLBase>http://192.168.1.1:49000/</d:URLBase>' +
  device(
    'urn:schemas-upnp-org:device:InternetGatewayDevice:1',
    '',
    device(
      'urn:schemas-upnp-org:device:WANDevice:1',
      '',
      device(
        'urn:schemas-upnp-org:device:WANConnectionDevice:1',
        service('urn:schemas-upnp-org:service:WANPPPConnection:1', 'upnp/control/WANPPPConn1') +
          service('urn:schemas-upnp-org:service:WANIPConnection:1', 'upnp/control/WANIPConn1') +
          service('urn:schemas-upnp-org:service:WANIPConnection:1', 'http://10.6.6.6/evil'),
      ),
    ),
  ) +
  '</d:root>'

const envelope = (inner: string): string =>
  '<?xml version="1.0"?>\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" ' +
  `s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>${inner}</s:Body></s:Envelope>`

/** A SOAP success reply for `action` of WANIPConnection:2 with the given outputs. */
export function soapReply(action: string, out: Record<string, string> = {}): string {
  const args = Object.entries(out)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('')
  return envelope(
    `<u:${action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">${args}</u:${action}Response>`,
  )
}

/** A UPnPError fault as miniupnpd sends it (with HTTP 500). */
export function soapFault(code: number, description: string): string {
  return envelope(
    '<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>' +
      `<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>${code}</errorCode>` +
      `<errorDescription>${description}</errorDescription></UPnPError></detail></s:Fault>`,
  )
}
