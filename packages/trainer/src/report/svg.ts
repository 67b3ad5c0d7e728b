import type { MetricRecord } from './types.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function niceNumber(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1000 || a < 0.01 ? x.toExponential(1) : Number(x.toPrecision(3)).toString();
}

/**
 * A small hand-written SVG of the loss curves: train loss per optimizer step (skipped steps left
 * out) and eval loss per token, with axes, ticks and a legend.
 */
export function lossCurveSvg(records: readonly MetricRecord[], options: { width?: number; height?: number; title?: string } = {}): string {
  const W = options.width ?? 640;
  const H = options.height ?? 360;
  const m = { left: 60, right: 20, top: 30, bottom: 45 };
  const train: Array<readonly [number, number]> = [];
  for (const r of records) if (r.type === 'train' && r.loss !== null && Number.isFinite(r.loss)) train.push([r.step, r.loss]);
  const evals: Array<readonly [number, number]> = [];
  for (const r of records) if (r.type === 'eval' && Number.isFinite(r.loss)) evals.push([r.step, r.loss]);
  const pts = [...train, ...evals];
  const maxStep = Math.max(1, ...pts.map((p) => p[0]));
  let lo = Math.min(...pts.map((p) => p[1]));
  let hi = Math.max(...pts.map((p) => p[1]));
  if (!pts.length) [lo, hi] = [0, 1];
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5];
  const x = (s: number) => m.left + (s / maxStep) * (W - m.left - m.right);
  const y = (l: number) => H - m.bottom - ((l - lo) / (hi - lo)) * (H - m.top - m.bottom);
  const line = (p: ReadonlyArray<readonly [number, number]>) => p.map(([s, l]) => `${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(options.title ?? 'loss per target token')}</text>`);
  out.push(`<line x1="${m.left}" y1="${H - m.bottom}" x2="${W - m.right}" y2="${H - m.bottom}" stroke="black"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${H - m.bottom}" stroke="black"/>`);
  for (let i = 0; i <= 4; i++) {
    const l = lo + ((hi - lo) * i) / 4;
    const s = Math.round((maxStep * i) / 4);
    out.push(`<line x1="${m.left - 4}" y1="${y(l).toFixed(1)}" x2="${m.left}" y2="${y(l).toFixed(1)}" stroke="black"/>`);
    out.push(`<text x="${m.left - 6}" y="${(y(l) + 4).toFixed(1)}" text-anchor="end">${niceNumber(l)}</text>`);
    out.push(`<line x1="${x(s).toFixed(1)}" y1="${H - m.bottom}" x2="${x(s).toFixed(1)}" y2="${H - m.bottom + 4}" stroke="black"/>`);
    out.push(`<text x="${x(s).toFixed(1)}" y="${H - m.bottom + 16}" text-anchor="middle">${s}</text>`);
  }
  out.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 8}" text-anchor="middle">optimizer step</text>`);
  out.push(`<text x="14" y="${(m.top + H - m.bottom) / 2}" text-anchor="middle" transform="rotate(-90 14 ${(m.top + H - m.bottom) / 2})">loss</text>`);
  if (train.length) out.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${line(train)}"/>`);
  if (evals.length) {
    out.push(`<polyline fill="none" stroke="#d62728" stroke-width="2" points="${line(evals)}"/>`);
    for (const [s, l] of evals) out.push(`<circle cx="${x(s).toFixed(1)}" cy="${y(l).toFixed(1)}" r="3" fill="#d62728"/>`);
  }
  const lx = W - m.right - 110;
  out.push(`<line x1="${lx}" y1="${m.top + 6}" x2="${lx + 20}" y2="${m.top + 6}" stroke="#1f77b4" stroke-width="2"/><text x="${lx + 25}" y="${m.top + 10}">train</text>`);
  out.push(`<line x1="${lx}" y1="${m.top + 22}" x2="${lx + 20}" y2="${m.top + 22}" stroke="#d62728" stroke-width="2"/><text x="${lx + 25}" y="${m.top + 26}">eval</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
