// A video's processing, live: the videoProcessing subscription drives the step list and the
// progress bar until READY (a link to watch) or FAILED (its reason, and a retry). From the
// moment its lowest quality is published (the PLAYABLE step) it offers "Watch now".
import { RetryProcessing, VideoProcessing, Watch, type VideoProcessingSubscription } from '../../generated/operations'
import { alertBox, announce, h } from '../dom'
import { statusWord } from '../format'
import { ApiError, request, subscribe } from '../graphql'
import type { Page } from '../router'

type Event = VideoProcessingSubscription['videoProcessing']

// Each step's words and the share of the progress bar it ends at; encoding takes most of it.
const STEPS: [step: string, label: string, endsAt: number][] = [
  ['uploaded', 'Uploaded', 0.05],
  ['start', 'Started', 0.07],
  ['probe', 'Reading the video', 0.1],
  ['encode', 'Encoding the first quality', 0.35],
  ['PLAYABLE', 'Playable', 0.4],
  ['ladder', 'Encoding every quality', 0.97],
  ['done', 'Ready', 1],
]
const ORDER = new Map(STEPS.map(([step], i) => [step, i]))
// The step a status alone stands for, when an event names none of ours (the current state).
const STEP_OF_STATUS: Record<string, string> = { UPLOADED: 'uploaded', READY: 'done' }

function statusWords(status: string): string {
  return status === 'UPLOADED' ? 'Uploaded: waiting to be processed' : statusWord(status)
}

export const processingPage: Page = {
  async render(main, { id }) {
    const videoId = id ?? ''
    const found = await request(Watch, { id: videoId }).catch(() => null)
    const video = found?.video
    if (!video) {
      main.append(h('h1', {}, 'Video not found'), h('p', {}, 'It does not exist, or it is not yours to see.'))
      return
    }
    const items = STEPS.map(([step, label]) => h('li', { 'data-step': step }, label))
    const bar = h('progress', { id: 'processing-progress', max: 1, value: 0, 'aria-label': 'Processing progress' })
    const statusLine = h('p', { class: 'status-line', id: 'processing-status', 'aria-live': 'polite' }, statusWords(video.status))
    const detail = h('p', { class: 'hint' })
    const outcome = h('div', { id: 'processing-outcome' })
    main.append(
      h('h1', {}, `Processing “${video.title}”`),
      h('div', { class: 'card' }, statusLine, bar, detail, h('ol', { class: 'steps', 'aria-label': 'Steps' }, ...items), outcome),
    )

    // The furthest step reached; the bar and the list only ever move forwards.
    let reached = -1
    function show(event: Event): void {
      main.dataset.status = event.status
      const step = ORDER.has(event.step) ? event.step : STEP_OF_STATUS[event.status]
      const index = step === undefined ? -1 : (ORDER.get(step) ?? -1)
      reached = Math.max(reached, index)
      const processing = event.status === 'PROCESSING'
      statusLine.textContent =
        processing && reached >= 0 ? `Processing: ${labelOf(reached)}` : statusWords(event.status)
      items.forEach((item, i) => {
        // A finished upload is a done step, not a current one.
        const done = i < reached || event.status === 'READY' || (i === 0 && reached === 0)
        item.classList.toggle('done', done)
        item.classList.toggle('current', i === reached && processing)
        if (i === reached && processing) item.setAttribute('aria-current', 'step')
        else item.removeAttribute('aria-current')
      })
      bar.value = Math.max(bar.value, progressOf(event, reached))
      detail.textContent = event.message ?? ''
      if (processing && reached >= (ORDER.get('PLAYABLE') ?? Infinity)) watchNow()
    }

    let offered = false
    function watchNow(): void {
      if (offered) return
      offered = true
      main.dataset.playableOffered = 'true'
      outcome.replaceChildren(h('p', { class: 'success' }, 'You can watch it now; higher qualities are on their way. ', h('a', { href: `/videos/${videoId}`, id: 'watch-now' }, 'Watch now')))
      announce('Your video is playable')
    }

    function ready(): void {
      outcome.replaceChildren(h('p', { class: 'success' }, 'Your video is ready. ', h('a', { href: `/videos/${videoId}`, id: 'watch-link' }, 'Watch it')))
      announce('Processing finished: the video is ready')
    }

    function failed(reason: string | null): void {
      const retry = h('button', { type: 'button', class: 'secondary' }, 'Process it again')
      retry.addEventListener('click', async () => {
        retry.disabled = true
        try {
          await request(RetryProcessing, { videoId })
          outcome.replaceChildren()
          // A new run: its steps start over.
          reached = -1
          bar.value = 0
          start()
        } catch (error) {
          outcome.append(alertBox(error instanceof ApiError ? error.message : 'Could not retry.'))
        }
      })
      outcome.replaceChildren(
        h('div', { class: 'failure-box', role: 'alert' }, h('h2', {}, 'Processing failed'), h('p', { id: 'failure-reason' }, reason ?? 'No reason was given.')),
        retry,
      )
    }

    if (video.playable && video.status === 'PROCESSING') watchNow()

    let stop: (() => void) | undefined
    function start(): void {
      let last: Event | undefined
      stop = subscribe(VideoProcessing, { videoId }, {
        next: (data) => {
          last = data.videoProcessing
          show(last)
        },
        error: (error) => outcome.replaceChildren(alertBox(`Live updates stopped: ${error.message}`)),
        complete: async () => {
          // The stream ends on READY or FAILED; the row tells the final reason.
          const now = (await request(Watch, { id: videoId }).catch(() => null))?.video
          const status = now?.status ?? last?.status
          if (status === 'READY') {
            show({ status: 'READY', step: 'done', progress: 1, message: null, at: new Date().toISOString() })
            ready()
          } else if (status === 'FAILED') {
            main.dataset.status = 'FAILED'
            statusLine.textContent = statusWords('FAILED')
            failed(now?.failureReason ?? last?.message ?? null)
          } else if (!now) {
            outcome.replaceChildren(alertBox('This video was deleted or hidden.'))
          }
        },
      })
    }
    start()
    return () => stop?.()
  },
}

/** Where the bar stands for an event: the end of the step before, plus the step's own share. */
function progressOf(event: Event, reached: number): number {
  const step = STEPS[reached]
  if (event.status === 'READY') return 1
  if (step === undefined) return 0
  if (reached === 0) return step[2] // the upload is done
  const begins = STEPS[reached - 1]?.[2] ?? 0
  const within = (step[0] === 'encode' || step[0] === 'ladder') && event.progress != null ? event.progress : 0
  return begins + (step[2] - begins) * Math.min(1, Math.max(0, within))
}

function labelOf(index: number): string {
  return STEPS[index]?.[1] ?? ''
}
