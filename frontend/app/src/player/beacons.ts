// Playback events for the viewing statistics (POST /beacons): a start with the time from
// play() to the first frame, a heartbeat every 10 s with the seconds watched since the last
// event, rebuffers (the media element's stalls, which hls.js's buffering causes), the
// rendition watched, errors, and an end through navigator.sendBeacon when the page is hidden.
const ENDPOINT = '/beacons'
const HEARTBEAT_MS = 10_000
// A jump larger than this between two timeupdates is a seek, not playback.
const LARGEST_STEP_S = 1.5

type Kind = 'start' | 'heartbeat' | 'end' | 'rebuffer' | 'error' | 'rendition'

interface PlaybackEvent {
  videoId: string
  sessionId: string
  event: Kind
  positionSeconds: number
  watchedSeconds?: number
  startupMs?: number
  rebufferMs?: number
  height?: number
}

export interface Beacons {
  /** play() was called: the startup clock runs until the first frame. */
  playRequested: () => void
  /** The rendition playing changed (hls.js LEVEL_SWITCHED). */
  renditionChanged: (height: number) => void
  /** A fatal playback error. */
  failed: () => void
  stop: () => void
}

function newSessionId(): string {
  return typeof crypto.randomUUID === 'function'
    ? crypto.randomUUID()
    : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 14)}`
}

export function playbackBeacons(video: HTMLVideoElement, videoId: string): Beacons {
  const sessionId = newSessionId()
  let height = 0
  let watched = 0 // seconds played since the last event that carried them
  let lastTime: number | null = null
  let playAskedAt: number | null = null
  let started = false
  let stalledAt: number | null = null
  let queue: PlaybackEvent[] = []

  function event(kind: Kind, extra: Partial<PlaybackEvent> = {}): PlaybackEvent {
    return { videoId, sessionId, event: kind, positionSeconds: video.currentTime, ...extra }
  }

  function takeWatched(): Partial<PlaybackEvent> {
    const seconds = Math.round(watched * 1000) / 1000
    watched = 0
    return seconds > 0 ? { watchedSeconds: seconds, ...(height ? { height } : {}) } : {}
  }

  function send(events: PlaybackEvent[], { leaving = false } = {}): void {
    const body = JSON.stringify(events.length === 1 ? events[0] : events)
    // sendBeacon's string body is text/plain: a simple request, delivered as the page goes.
    if (leaving && navigator.sendBeacon(ENDPOINT, body)) return
    void fetch(ENDPOINT, { method: 'POST', body, headers: { 'content-type': 'application/json' }, keepalive: true }).catch(() => {
      // Statistics are best effort: a lost beacon is a view or a few seconds not counted.
    })
  }

  function flush(leaving = false): void {
    if (queue.length === 0) return
    const batch = queue.slice(0, 50)
    queue = queue.slice(50)
    send(batch, { leaving })
  }

  const onTimeUpdate = (): void => {
    const now = video.currentTime
    if (lastTime !== null && !video.paused && !video.seeking) {
      const step = now - lastTime
      if (step > 0 && step < LARGEST_STEP_S) watched += step / (video.playbackRate || 1)
    }
    lastTime = now
  }
  const onPlaying = (): void => {
    if (!started) {
      started = true
      const startupMs = playAskedAt !== null ? Math.round(performance.now() - playAskedAt) : undefined
      queue.push(event('start', startupMs !== undefined ? { startupMs } : {}))
      flush()
    }
    if (stalledAt !== null) {
      queue.push(event('rebuffer', { rebufferMs: Math.round(performance.now() - stalledAt) }))
      stalledAt = null
      flush()
    }
    lastTime = video.currentTime
  }
  const onWaiting = (): void => {
    // A stall while playing (not the wait after a seek, which the viewer asked for).
    if (started && !video.seeking && stalledAt === null) stalledAt = performance.now()
  }
  const onSeeked = (): void => {
    lastTime = video.currentTime
    stalledAt = null
  }
  const onEnded = (): void => {
    queue.push(event('end', takeWatched()))
    flush()
  }
  const onHidden = (): void => {
    if (document.visibilityState !== 'hidden' || !started) return
    queue.push(event('end', takeWatched()))
    flush(true)
  }
  const onPageHide = (): void => {
    if (!started) return
    queue.push(event('end', takeWatched()))
    flush(true)
  }

  video.addEventListener('timeupdate', onTimeUpdate)
  video.addEventListener('playing', onPlaying)
  video.addEventListener('waiting', onWaiting)
  video.addEventListener('seeked', onSeeked)
  video.addEventListener('ended', onEnded)
  document.addEventListener('visibilitychange', onHidden)
  window.addEventListener('pagehide', onPageHide)
  const heartbeat = window.setInterval(() => {
    if (!started || watched <= 0) return
    queue.push(event('heartbeat', takeWatched()))
    flush()
  }, HEARTBEAT_MS)

  return {
    playRequested() {
      if (!started && playAskedAt === null) playAskedAt = performance.now()
    },
    renditionChanged(next) {
      if (next === height) return
      if (started && watched > 0) queue.push(event('rendition', takeWatched()))
      height = next
      flush()
    },
    failed() {
      queue.push(event('error', takeWatched()))
      flush()
    },
    stop() {
      window.clearInterval(heartbeat)
      video.removeEventListener('timeupdate', onTimeUpdate)
      video.removeEventListener('playing', onPlaying)
      video.removeEventListener('waiting', onWaiting)
      video.removeEventListener('seeked', onSeeked)
      video.removeEventListener('ended', onEnded)
      document.removeEventListener('visibilitychange', onHidden)
      window.removeEventListener('pagehide', onPageHide)
      if (started) {
        queue.push(event('end', takeWatched()))
        flush(true)
      }
    },
  }
}
