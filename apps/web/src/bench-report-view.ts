/**
 * The benchmark report as HTML: the same blocks `renderReport` writes as markdown (headings, the facts
 * list, tables), built with DOM calls so no cell text is ever parsed as HTML. Cells keep the report's
 * light formatting: `**bold**`, `code` and line breaks.
 *
 * ```ts
 * el.replaceChildren(reportView(reportBlocks({ webgpu: [result], torch: [] })));
 * ```
 */
import type { ReportBlock } from '@llara/benchmarks/browser';

/** Text with `**bold**`, `` `code` `` and line breaks, as DOM nodes. */
export function inlineNodes(text: string): Node[] {
  const out: Node[] = [];
  text.split('\n').forEach((line, i) => {
    if (i > 0) out.push(document.createElement('br'));
    for (const part of line.split(/(\*\*[^*]+\*\*|`[^`]+`)/)) {
      if (!part) continue;
      if (part.startsWith('**') && part.endsWith('**') && part.length > 4) {
        const b = document.createElement('strong');
        b.textContent = part.slice(2, -2);
        out.push(b);
      } else if (part.startsWith('`') && part.endsWith('`') && part.length > 2) {
        const c = document.createElement('code');
        c.textContent = part.slice(1, -1);
        out.push(c);
      } else out.push(document.createTextNode(part));
    }
  });
  return out;
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (text !== undefined) el.append(...inlineNodes(text));
  return el;
}

function table(b: Extract<ReportBlock, { kind: 'table' }>): HTMLElement {
  const t = element('table');
  t.dataset.table = b.peers ? 'peers' : (b.suite ?? 'other');
  const head = element('tr');
  for (const h of b.head) head.append(element('th', h));
  t.append(element('thead'));
  t.tHead?.append(head);
  const body = element('tbody');
  const ratioCol = b.peers ? b.head.length - 1 : -1;
  for (const r of b.rows) {
    const tr = element('tr');
    r.forEach((cell, i) => {
      const td = element('td', cell);
      // Peer ratios below 1 are where we are behind: marked, never hidden.
      if (i === ratioCol && /^\d/.test(cell) && Number.parseFloat(cell) < 1) td.classList.add('behind');
      tr.append(td);
    });
    body.append(tr);
  }
  t.append(body);
  const scroll = element('div');
  scroll.className = 'table-scroll';
  scroll.append(t);
  return scroll;
}

/** The report's blocks as one fragment of HTML elements. */
export function reportView(blocks: readonly ReportBlock[]): DocumentFragment {
  const frag = document.createDocumentFragment();
  for (const b of blocks) {
    switch (b.kind) {
      case 'heading':
        // The page has its own h1 and card titles: the report's levels sit below them.
        frag.append(element(b.level === 1 ? 'h3' : 'h4', b.text));
        break;
      case 'paragraph':
        frag.append(element('p', b.text));
        break;
      case 'list': {
        const ul = element('ul');
        for (const i of b.items) ul.append(element('li', i));
        frag.append(ul);
        break;
      }
      case 'table':
        frag.append(table(b));
        break;
    }
  }
  return frag;
}
