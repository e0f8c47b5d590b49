// A grouped bar chart as a standalone SVG file, written by the benchmarks themselves (no dependency): one group per
// measurement, one bar per implementation, the value printed on each bar. People compare implementations at a
// glance; the numbers behind each chart are the table in bench/RESULTS.md beside its link.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export type Series = { name: string; values: (number | null)[] };
export type Chart = { title: string; unit: string; groups: string[]; series: Series[]; note?: string };

// Colour-blind-safe palette (Okabe–Ito), one colour per implementation in the order given.
const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function label(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toPrecision(2);
}

// A round axis maximum: 1, 2, 2.5 or 5 times a power of ten, at or above max.
function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** Several charts stacked in one SVG document. */
export function barCharts(charts: Chart[]): string {
  const W = 760, H = 300, GAP = 24;
  const parts: string[] = [];
  let y0 = 0;
  for (const c of charts) {
    parts.push(`<g transform="translate(0,${y0})">${barChart(c, W, H)}</g>`);
    y0 += H + GAP;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y0 - GAP}" viewBox="0 0 ${W} ${y0 - GAP}" ` +
    `font-family="system-ui, sans-serif" font-size="11">\n<rect width="100%" height="100%" fill="#fff"/>\n${parts.join("\n")}\n</svg>\n`;
}

function barChart(c: Chart, W: number, H: number): string {
  const left = 56, right = 12, top = 40, bottom = 46;
  const plotW = W - left - right, plotH = H - top - bottom;
  const values = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const max = niceMax(Math.max(0, ...values));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const out: string[] = [];
  out.push(`<text x="${left}" y="16" font-size="14" font-weight="600">${esc(c.title)}</text>`);
  if (c.note) out.push(`<text x="${left}" y="31" fill="#555">${esc(c.note)}</text>`);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4, yy = y(v);
    out.push(`<line x1="${left}" x2="${W - right}" y1="${yy}" y2="${yy}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${yy + 4}" text-anchor="end" fill="#555">${label(v)}</text>`);
  }
  out.push(`<text transform="translate(14,${top + plotH / 2}) rotate(-90)" text-anchor="middle" fill="#555">${esc(c.unit)}</text>`);
  const groupW = plotW / Math.max(1, c.groups.length);
  const barW = Math.min(48, (groupW * 0.8) / Math.max(1, c.series.length));
  c.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - barW * c.series.length) / 2;
    c.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = gx + si * barW, yy = y(Math.max(0, v));
      out.push(`<rect x="${x.toFixed(1)}" y="${yy.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - yy).toFixed(1)}" ` +
        `fill="${COLOURS[si % COLOURS.length]}"><title>${esc(`${s.name}, ${g}: ${label(v)} ${c.unit}`)}</title></rect>`);
      out.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(yy - 3).toFixed(1)}" text-anchor="middle" font-size="9">${label(v)}</text>`);
    });
    out.push(`<text x="${(left + gi * groupW + groupW / 2).toFixed(1)}" y="${top + plotH + 14}" text-anchor="middle">${esc(g)}</text>`);
  });
  out.push(`<line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`);
  let lx = left;
  c.series.forEach((s, si) => {
    out.push(`<rect x="${lx}" y="${H - 16}" width="10" height="10" fill="${COLOURS[si % COLOURS.length]}"/>`);
    out.push(`<text x="${lx + 14}" y="${H - 7}">${esc(s.name)}</text>`);
    lx += 24 + s.name.length * 6.5;
  });
  return out.join("\n");
}

/** Writes the charts to path (directories created); returns path. */
export function writeCharts(path: string, charts: Chart[]): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, barCharts(charts));
  return path;
}
