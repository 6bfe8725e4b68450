// A stock dash.js player: plays an MPD URL and reports what it played: the time reached, the
// video representations and the audio tracks it was offered.
import * as dashjs from 'dashjs'

window.playDash = function playDash(url, { seconds = 1.5, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const video = document.createElement('video')
    video.muted = true
    document.body.appendChild(video)
    const player = dashjs.MediaPlayer().create()
    const timer = setTimeout(() => reject(new Error(`no playback of ${url} in time`)), timeoutMs)
    player.on(dashjs.MediaPlayer.events.ERROR, (event) => {
      clearTimeout(timer)
      const error = event.error || {}
      reject(new Error(`dash.js: ${error.code} ${error.message}`))
    })
    video.addEventListener('timeupdate', () => {
      if (video.currentTime >= seconds) {
        clearTimeout(timer)
        resolve({
          currentTime: video.currentTime,
          videoRepresentations: player.getRepresentationsByType('video').length,
          audioTracks: player.getTracksFor('audio').length,
        })
      }
    })
    player.initialize(video, url, true)
  })
}
