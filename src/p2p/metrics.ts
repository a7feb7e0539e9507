/**
 * Server metrics (geth's `p2p/metrics.go`), kept in a tiny registry of counters, gauges and
 * duration summaries, rendered as Prometheus text. Names follow geth's (`p2p/peers`,
 * `p2p/ingress`, `p2p/dials/error/...`) with `/` turned into `_` and reasons as labels.
 */

type Labels = Readonly<Record<string, string>>

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort()
  return keys.map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')
}

interface Family {
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'summary'
  // BOUNDED: label sets come from fixed vocabularies (reasons, directions, protocol codes); capped by MAX_SERIES.
  readonly series: Map<string, { value: number; count: number }>
}

/** Most label combinations kept per metric; later ones are folded into `other`. */
export const MAX_SERIES = 1024

/** A registry of metric families with Prometheus text output. */
export class MetricsRegistry {
  // BOUNDED: one entry per metric name defined in code.
  private readonly families = new Map<string, Family>()

  private family(name: string, type: Family['type'], help: string): Family {
    let f = this.families.get(name)
    if (!f) {
      f = { help, type, series: new Map() }
      this.families.set(name, f)
    }
    return f
  }

  private series(f: Family, labels: Labels): { value: number; count: number } {
    let key = labelKey(labels)
    let s = f.series.get(key)
    if (!s) {
      if (f.series.size >= MAX_SERIES) key = labelKey({ overflow: 'other' })
      s = f.series.get(key) ?? { value: 0, count: 0 }
      f.series.set(key, s)
    }
    return s
  }

  /** Add `by` (default 1) to a counter. */
  inc(name: string, help: string, labels: Labels = {}, by = 1): void {
    this.series(this.family(name, 'counter', help), labels).value += by
  }

  /** Set a gauge. */
  set(name: string, help: string, value: number, labels: Labels = {}): void {
    this.series(this.family(name, 'gauge', help), labels).value = value
  }

  /** Record one observation (e.g. a duration in seconds) in a summary (count and sum). */
  observe(name: string, help: string, value: number, labels: Labels = {}): void {
    const s = this.series(this.family(name, 'summary', help), labels)
    s.value += value
    s.count += 1
  }

  /** Current value of a counter or gauge series (0 if absent). */
  get(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.series.get(labelKey(labels))?.value ?? 0
  }

  /** Observation count of a summary series. */
  count(name: string, labels: Labels = {}): number {
    return this.families.get(name)?.series.get(labelKey(labels))?.count ?? 0
  }

  /** Sum of a counter over all its label sets. */
  total(name: string): number {
    let n = 0
    for (const s of this.families.get(name)?.series.values() ?? []) n += s.value
    return n
  }

  /** The Prometheus text exposition of every metric. */
  toPrometheus(): string {
    const out: string[] = []
    for (const [name, f] of [...this.families].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`)
      for (const [key, s] of f.series) {
        const l = key ? `{${key}}` : ''
        if (f.type === 'summary') {
          out.push(`${name}_sum${l} ${s.value}`, `${name}_count${l} ${s.count}`)
        } else out.push(`${name}${l} ${s.value}`)
      }
    }
    return `${out.join('\n')}\n`
  }
}

/** Metric names used by the server. */
export const M = {
  peers: 'p2p_peers',
  ingressBytes: 'p2p_ingress_bytes_total',
  egressBytes: 'p2p_egress_bytes_total',
  ingressMsgs: 'p2p_ingress_messages_total',
  egressMsgs: 'p2p_egress_messages_total',
  dials: 'p2p_dials_total',
  serves: 'p2p_serves_total',
  handshake: 'p2p_handshake_duration_seconds',
  drops: 'p2p_peer_drops_total',
  wireIngress: 'p2p_wire_ingress_bytes',
  wireEgress: 'p2p_wire_egress_bytes',
} as const
