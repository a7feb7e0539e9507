/**
 * A small, tolerant, size-bounded XML reader for the few elements UPnP needs (device
 * descriptions and SOAP envelopes). It builds a tree of elements with their direct text; it
 * skips the prolog, comments, processing instructions and DOCTYPE, reads CDATA, decodes the five
 * predefined entities and character references, ignores attributes and namespace prefixes, and
 * forgives mismatched or missing end tags. Input size, depth and element count are bounded;
 * violations throw {@link DecodeError} (`what: 'xml'`). Pure.
 */
import { DecodeError } from '../util/errors.js'

/** One element: its local name (prefix removed), its child elements and its direct text. */
export interface XmlElement {
  /** Local name, e.g. `serviceType` for `<u:serviceType>`. The document root is `#document`. */
  readonly name: string
  readonly children: XmlElement[]
  /** Concatenated direct text content, entities decoded, not trimmed. */
  text: string
}

/** Limits of {@link parseXml}. */
export interface XmlLimits {
  /** Longest input in characters. */
  readonly maxChars: number
  /** Deepest element nesting. */
  readonly maxDepth: number
  /** Most elements. */
  readonly maxElements: number
}

/** Defaults: 256 Ki characters, depth 32, 4096 elements. */
export const XML_DEFAULT_LIMITS: XmlLimits = Object.freeze({
  maxChars: 256 * 1024,
  maxDepth: 32,
  maxElements: 4096,
})

const ENTITY = /&(#x[0-9a-fA-F]{1,6}|#[0-9]{1,7}|lt|gt|amp|quot|apos);/g
const NAMED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" }

/** Decode XML entities; unknown or invalid references are kept literally. */
export function decodeXmlEntities(s: string): string {
  if (!s.includes('&')) return s
  return s.replace(ENTITY, (m, body: string) => {
    const named = NAMED[body]
    if (named !== undefined) return named
    const cp = body[1] === 'x' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10)
    if (!Number.isFinite(cp) || cp <= 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return m
    return String.fromCodePoint(cp)
  })
}

/** Escape text for element content or an attribute value. */
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) =>
    c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : c === '"' ? '&quot;' : '&apos;',
  )
}

function localName(qname: string): string {
  const i = qname.indexOf(':')
  return i >= 0 ? qname.slice(i + 1) : qname
}

/**
 * Parse `text` into a tree under a `#document` root. Tolerant of sloppy markup, strict about
 * the limits.
 */
export function parseXml(text: string, limits: Partial<XmlLimits> = {}): XmlElement {
  const lim = { ...XML_DEFAULT_LIMITS, ...limits }
  if (text.length > lim.maxChars) throw new DecodeError('xml', `document exceeds ${lim.maxChars} characters`)
  const root: XmlElement = { name: '#document', children: [], text: '' }
  const stack: XmlElement[] = [root]
  let elements = 0
  let i = 0
  const n = text.length
  const top = (): XmlElement => stack[stack.length - 1]!
  const skipTo = (end: string, from: number, what: string): number => {
    const j = text.indexOf(end, from)
    if (j < 0) throw new DecodeError('xml', `unterminated ${what}`)
    return j + end.length
  }
  while (i < n) {
    const lt = text.indexOf('<', i)
    if (lt < 0) {
      top().text += decodeXmlEntities(text.slice(i))
      break
    }
    if (lt > i) top().text += decodeXmlEntities(text.slice(i, lt))
    if (text.startsWith('<?', lt)) {
      i = skipTo('?>', lt + 2, 'processing instruction')
    } else if (text.startsWith('<!--', lt)) {
      i = skipTo('-->', lt + 4, 'comment')
    } else if (text.startsWith('<![CDATA[', lt)) {
      const end = text.indexOf(']]>', lt + 9)
      if (end < 0) throw new DecodeError('xml', 'unterminated CDATA section')
      top().text += text.slice(lt + 9, end)
      i = end + 3
    } else if (text.startsWith('<!', lt)) {
      // DOCTYPE or another declaration: skip it, including a bracketed internal subset.
      const bracket = text.indexOf('[', lt)
      const gt = text.indexOf('>', lt)
      if (gt < 0) throw new DecodeError('xml', 'unterminated declaration')
      i = bracket >= 0 && bracket < gt ? skipTo(']>', bracket, 'declaration') : gt + 1
    } else if (text[lt + 1] === '/') {
      const gt = text.indexOf('>', lt)
      if (gt < 0) throw new DecodeError('xml', 'unterminated end tag')
      const name = localName(text.slice(lt + 2, gt).trim())
      // Close up to the nearest open element of that name; ignore a stray end tag.
      for (let d = stack.length - 1; d > 0; d--) {
        if (stack[d]!.name === name) {
          stack.length = d
          break
        }
      }
      i = gt + 1
    } else {
      const next = text[lt + 1]
      const m =
        next === undefined || /[\s/>]/.test(next) ? null : /^[^\s/>]+/.exec(text.slice(lt + 1, lt + 257))
      if (!m) {
        // A bare '<' in text: keep it as text.
        top().text += '<'
        i = lt + 1
        continue
      }
      const name = localName(m[0])
      // Find the end of the tag, skipping quoted attribute values.
      let j = lt + 1 + m[0].length
      let quote = ''
      for (; j < n; j++) {
        const c = text[j]
        if (quote) {
          if (c === quote) quote = ''
        } else if (c === '"' || c === "'") quote = c
        else if (c === '>') break
      }
      if (j >= n) throw new DecodeError('xml', 'unterminated start tag')
      const selfClosing = text[j - 1] === '/'
      if (++elements > lim.maxElements) throw new DecodeError('xml', `more than ${lim.maxElements} elements`)
      const el: XmlElement = { name, children: [], text: '' }
      top().children.push(el)
      if (!selfClosing) {
        if (stack.length > lim.maxDepth) throw new DecodeError('xml', `nesting deeper than ${lim.maxDepth}`)
        stack.push(el)
      }
      i = j + 1
    }
  }
  return root
}

/** Every descendant of `el` (depth first, document order) whose local name is `name`. */
export function findAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = []
  const walk = (e: XmlElement): void => {
    for (const c of e.children) {
      if (c.name === name) out.push(c)
      walk(c)
    }
  }
  walk(el)
  return out
}

/** The first descendant named `name`, or `undefined`. */
export function findFirst(el: XmlElement, name: string): XmlElement | undefined {
  for (const c of el.children) {
    if (c.name === name) return c
    const d = findFirst(c, name)
    if (d) return d
  }
  return undefined
}

/** The trimmed text of the first direct child named `name`, or `undefined`. */
export function childText(el: XmlElement, name: string): string | undefined {
  for (const c of el.children) if (c.name === name) return c.text.trim()
  return undefined
}
