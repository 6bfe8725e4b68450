// The owner's statistics card on the watch page: totals, views and watch time per hour over
// the last 48 hours as an SVG chart (drawn here: nothing loaded from elsewhere), and the
// playback quality viewers met. Read again every 15 s while the page is open.
import { OwnerStats, type OwnerStatsQuery } from '../../generated/operations'
import { alertBox, h } from '../dom'
import { count } from '../format'
import { ApiError, request } from '../graphql'

const HOURS = 48
const REFRESH_MS = 15_000
const SVG = 'http://www.w3.org/2000/svg'
const WIDTH = 480
const HEIGHT = 140
const PAD = 24

type Stats = NonNullable<OwnerStatsQuery['video']>['stats']
type Hour = Stats['viewsByHour'][number]

function svg(name: string, attributes: Record<string, string | number>, ...children: SVGElement[]): SVGElement {
  const element = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value))
  element.append(...children)
  return element
}

export function watchTime(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)} s`
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`
  return `${(seconds / 3600).toFixed(1)} h`
}

/** Views as bars, watch time as a line, one step per hour, oldest on the left. */
function chart(hours: Hour[]): SVGElement {
  const most = Math.max(1, ...hours.map((hour) => hour.views))
  const longest = Math.max(1, ...hours.map((hour) => hour.watchTimeSeconds))
  const step = (WIDTH - 2 * PAD) / Math.max(1, hours.length)
  const bottom = HEIGHT - PAD
  const bars = hours.map((hour, i) => {
    const tall = ((bottom - PAD) * hour.views) / most
    return svg('rect', { class: 'bar', x: PAD + i * step + 1, y: bottom - tall, width: Math.max(1, step - 2), height: tall, 'data-views': hour.views })
  })
  const points = hours
    .map((hour, i) => `${PAD + i * step + step / 2},${bottom - ((bottom - PAD) * hour.watchTimeSeconds) / longest}`)
    .join(' ')
  const total = hours.reduce((sum, hour) => sum + hour.views, 0)
  const label = `${count(total, 'view', 'views')} in the last ${hours.length} hours; at most ${most} in one hour`
  const title = svg('title', {})
  title.textContent = label
  const axis = svg('line', { class: 'axis', x1: PAD, y1: bottom, x2: WIDTH - PAD, y2: bottom })
  const peak = svg('text', { class: 'axis-label', x: 2, y: PAD + 4 })
  peak.textContent = String(most)
  const first = svg('text', { class: 'axis-label', x: PAD, y: HEIGHT - 6 })
  first.textContent = `${hours.length} h ago`
  const last = svg('text', { class: 'axis-label', x: WIDTH - PAD, y: HEIGHT - 6, 'text-anchor': 'end' })
  last.textContent = 'now'
  return svg(
    'svg',
    { class: 'views-chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label },
    title,
    axis,
    ...bars,
    svg('polyline', { class: 'watch-line', points, fill: 'none' }),
    peak,
    first,
    last,
  )
}

function numbers(stats: Stats): HTMLElement {
  const quality = stats.playbackQuality
  const rows: [string, string, string][] = [
    ['views', 'Views', String(stats.views)],
    ['unique-viewers', 'Unique viewers', String(stats.uniqueViewers)],
    ['watch-time', 'Watch time', watchTime(stats.watchTimeSeconds)],
  ]
  if (quality) {
    const ms = (value: number | null | undefined): string => (value == null ? '–' : `${Math.round(value)} ms`)
    rows.push(
      ['startup-p50', 'Startup (median)', ms(quality.startupTimeMsP50)],
      ['startup-p95', 'Startup (95th percentile)', ms(quality.startupTimeMsP95)],
      ['rebuffering', 'Time rebuffering', `${(quality.rebufferRatio * 100).toFixed(1)} %`],
      ['errors', 'Views with an error', `${(quality.errorRate * 100).toFixed(1)} %`],
      ['renditions', 'Watched in', quality.renditions.map((r) => `${r.height}p ${Math.round(r.watchShare * 100)} %`).join(', ') || '–'],
    )
  }
  return h('dl', { class: 'stats-numbers' }, ...rows.flatMap(([key, term, value]) => [h('dt', {}, term), h('dd', { 'data-stat': key }, value)]))
}

export function statsCard(videoId: string): { element: HTMLElement; stop: () => void } {
  const body = h('div', { class: 'stats-body', 'aria-live': 'polite' }, h('p', { class: 'hint' }, 'Loading…'))
  const element = h(
    'section',
    { class: 'card stats', id: 'video-stats', 'aria-labelledby': 'stats-heading' },
    h('h2', { id: 'stats-heading' }, 'Statistics'),
    body,
    h('p', { class: 'hint' }, 'Bars: views per hour. Line: watch time per hour. Up to a few seconds behind.'),
  )
  async function load(): Promise<void> {
    try {
      const found = (await request(OwnerStats, { id: videoId, hours: HOURS })).video
      if (!found) return
      body.replaceChildren(numbers(found.stats), chart(found.stats.viewsByHour))
    } catch (error) {
      body.replaceChildren(alertBox(error instanceof ApiError ? error.message : 'Could not load the statistics.'))
    }
  }
  void load()
  const timer = window.setInterval(() => void load(), REFRESH_MS)
  return { element, stop: () => window.clearInterval(timer) }
}
