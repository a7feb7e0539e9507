import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  childText,
  decodeXmlEntities,
  escapeXml,
  findAll,
  findFirst,
  parseXml,
} from '../../../src/nat/index.js'
import { DecodeError } from '../../../src/util/index.js'

describe('parseXml', () => {
  it('builds a tree of local names with direct text', () => {
    const doc = parseXml(
      '<?xml version="1.0"?><a:root xmlns:a="x"><b>one</b><c attr="v>/"><b>two</b></c><d/></a:root>',
    )
    const root = findFirst(doc, 'root')!
    assert.equal(root.children.length, 3)
    assert.equal(childText(root, 'b'), 'one')
    assert.deepEqual(
      findAll(doc, 'b').map((b) => b.text),
      ['one', 'two'],
    )
    assert.equal(findFirst(doc, 'd')?.children.length, 0)
    assert.equal(childText(root, 'missing'), undefined)
  })
  it('decodes entities and CDATA, skips comments, PIs and DOCTYPE', () => {
    const doc = parseXml(
      '<!DOCTYPE r [<!ENTITY x "y">]><!-- c <x> --><r>a &lt;&amp;&gt; &#65;&#x42; &bogus; <![CDATA[<raw>&amp;]]><?pi ?></r>',
    )
    assert.equal(findFirst(doc, 'r')?.text, 'a <&> AB &bogus; <raw>&amp;')
  })
  it('forgives stray and missing end tags', () => {
    const doc = parseXml('<a><b>x</c></b><d>y</a><e>z')
    assert.equal(childText(findFirst(doc, 'a')!, 'b'), 'x')
    assert.equal(findFirst(doc, 'd')?.text, 'y')
    assert.equal(findFirst(doc, 'e')?.text, 'z')
  })
  it('keeps a bare < as text', () => {
    assert.equal(findFirst(parseXml('<a>1 < 2</a>'), 'a')?.text, '1 < 2')
  })
  it('rejects unterminated constructs', () => {
    for (const bad of ['<a', '<!-- x', '<![CDATA[x', '<?pi', '<a><b x="1>', '</a', '<!DOCTYPE x']) {
      assert.throws(() => parseXml(bad), DecodeError, bad)
    }
  })
  it('enforces size, depth and element limits', () => {
    assert.throws(() => parseXml('<a/>'.repeat(10), { maxChars: 20 }), /exceeds 20 characters/)
    assert.throws(() => parseXml('<a>'.repeat(40)), /nesting deeper than 32/)
    assert.throws(() => parseXml('<a/>'.repeat(5000)), /more than 4096 elements/)
    parseXml('<a>'.repeat(32))
  })
  it('decodes only valid character references', () => {
    assert.equal(decodeXmlEntities('&#0;&#x110000;&#xD800;&#x1F600;'), '&#0;&#x110000;&#xD800;😀')
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;')
  })
  it('throws only DecodeError on random input', () => {
    const xmlish = fc
      .array(
        fc.constantFrom(
          '<',
          '>',
          '/',
          'a',
          'b:',
          '"',
          "'",
          '!',
          '?',
          '-',
          '[',
          ']',
          'CDATA',
          '&',
          ';',
          '#',
          ' ',
          'x',
        ),
        { maxLength: 80 },
      )
      .map((a) => a.join(''))
    fc.assert(
      fc.property(fc.oneof(fc.string(), xmlish), (s) => {
        try {
          parseXml(s)
        } catch (e) {
          assert.ok(e instanceof DecodeError, String(e))
        }
      }),
      { numRuns: 5000 },
    )
  })
  it('handles a hostile megabyte in linear time (rejected by size)', () => {
    const big = `<a>${'<'.repeat(300_000)}</a>`
    assert.throws(() => parseXml(big), DecodeError)
    // within the size limit: many bare '<' characters are cheap
    const doc = parseXml(`<a>${'< '.repeat(100_000)}</a>`)
    assert.equal(findFirst(doc, 'a')?.text.length, 200_000)
  })
})
