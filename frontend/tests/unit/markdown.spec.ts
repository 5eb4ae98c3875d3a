import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import MarkdownContent from '@/components/MarkdownContent.vue'
import { renderMarkdown, sanitize } from '@/lib/markdown'

const HOSTILE = [
  '<script>window.pwned = 1</script>',
  '<img src=x onerror="window.pwned = 1">',
  '[click me](javascript:window.pwned=1)',
  '[click](JaVaScRiPt:alert(1))',
  '<a href="javascript:alert(1)">x</a>',
  '<iframe src="https://evil.example"></iframe>',
  '<svg onload="alert(1)"><circle /></svg>',
  '<div style="background:url(javascript:alert(1))" onclick="alert(1)">x</div>',
  '![x](javascript:alert(1))',
  '<form action="https://evil.example"><button>go</button></form>',
  '```html\n<script>alert(1)</script>\n```',
]

function assertInert(html: string): void {
  const box = document.createElement('div')
  box.innerHTML = html
  expect(box.querySelector('script, iframe, object, embed, svg, form, style')).toBeNull()
  for (const el of box.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      expect(attr.name.startsWith('on'), `${el.tagName} has ${attr.name}`).toBe(false)
      expect(attr.value.toLowerCase().replace(/\s/g, '')).not.toContain('javascript:')
    }
  }
}

describe('renderMarkdown', () => {
  it('renders ordinary Markdown', () => {
    const html = renderMarkdown('# Title\n\n**bold** and `code`\n\n- a\n- b\n\n[site](https://example.com)')
    expect(html).toContain('<h1>Title</h1>')
    expect(html).toContain('<strong>bold</strong>')
    expect(html).toContain('<code>code</code>')
    expect(html).toContain('<li>a</li>')
    expect(html).toContain('href="https://example.com"')
    expect(html).toContain('rel="noopener noreferrer nofollow"')
    expect(html).toContain('target="_blank"')
  })

  it.each(HOSTILE)('never lets model output run script: %s', (source) => {
    assertInert(renderMarkdown(source))
  })

  it('shows raw HTML from the model as text', () => {
    const html = renderMarkdown('<script>alert(1)</script>')
    expect(html).toContain('&lt;script&gt;')
  })

  it('wraps fenced code with its language and a copy button', () => {
    const html = renderMarkdown('```python\nprint("hi")\n```')
    expect(html).toContain('class="code-block"')
    expect(html).toContain('python')
    expect(html).toContain('data-copy')
    expect(html).toContain('print(')
  })
})

describe('sanitize', () => {
  it('strips handlers and script even from HTML that bypassed markdown-it', () => {
    const html = sanitize('<p onclick="x()">hi</p><script>x()</script><a href="javascript:x()">l</a><img src="x" onerror="x()">')
    assertInert(html)
    expect(html).toContain('<p>hi</p>')
  })
})

describe('MarkdownContent', () => {
  it('renders hostile output inert in the DOM', () => {
    const wrapper = mount(MarkdownContent, { props: { source: HOSTILE.join('\n\n') } })
    assertInert(wrapper.html())
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined()
  })
})
