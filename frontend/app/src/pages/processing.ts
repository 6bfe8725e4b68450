// A video's processing, live: the videoProcessing subscription drives the step list and the
// progress bar until READY (a link to watch) or FAILED (its reason, and a retry).
import { RetryProcessing, VideoProcessing, Watch, type VideoProcessingSubscription } from '../../generated/operations'
import { alertBox, announce, h } from '../dom'
import { ApiError, request, subscribe } from '../graphql'
import type { Page } from '../router'

type Event = VideoProcessingSubscription['videoProcessing']

const STEPS: [string, string][] = [
  ['uploaded', 'Uploaded'],
  ['start', 'Started'],
  ['download', 'Fetching the upload'],
  ['probe', 'Reading the video'],
  ['encode', 'Encoding every quality'],
  ['publish', 'Publishing'],
  ['done', 'Ready'],
]
const ORDER = new Map(STEPS.map(([step], i) => [step, i]))

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
    const statusLine = h('p', { class: 'status-line', id: 'processing-status', 'aria-live': 'polite' }, video.status)
    const detail = h('p', { class: 'hint' })
    const outcome = h('div', { id: 'processing-outcome' })
    main.append(
      h('h1', {}, `Processing “${video.title}”`),
      h('div', { class: 'card' }, statusLine, bar, detail, h('ol', { class: 'steps', 'aria-label': 'Steps' }, ...items), outcome),
    )

    let reached = -1
    function show(event: Event): void {
      main.dataset.status = event.status
      statusLine.textContent = event.status === 'PROCESSING' ? `Processing: ${event.step}` : event.status
      const index = ORDER.get(event.step) ?? (event.status === 'READY' ? STEPS.length - 1 : -1)
      reached = Math.max(reached, index)
      items.forEach((item, i) => {
        item.classList.toggle('done', i < reached || event.status === 'READY')
        item.classList.toggle('current', i === reached && event.status === 'PROCESSING')
        if (i === reached && event.status === 'PROCESSING') item.setAttribute('aria-current', 'step')
        else item.removeAttribute('aria-current')
      })
      if (event.status === 'READY') bar.value = 1
      else if (event.step === 'encode' && event.progress != null) bar.value = 0.1 + 0.8 * event.progress
      else if (reached >= 0) bar.value = Math.max(bar.value, reached / STEPS.length)
      detail.textContent = event.message ?? ''
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
            statusLine.textContent = 'FAILED'
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
