// A stock hls.js player: plays a master playlist URL and reports what it played.
import Hls from 'hls.js'

window.playHls = function playHls(url, { seconds = 1.5, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const video = document.createElement('video')
    video.muted = true
    document.body.appendChild(video)
    const hls = new Hls()
    const timer = setTimeout(() => reject(new Error(`no playback of ${url} in time`)), timeoutMs)
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        clearTimeout(timer)
        reject(new Error(`hls.js: ${data.type} ${data.details}`))
      }
    })
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      video.play().catch((error) => reject(error))
      video.addEventListener('timeupdate', () => {
        if (video.currentTime >= seconds) {
          clearTimeout(timer)
          resolve({ currentTime: video.currentTime, levels: data.levels.length })
        }
      })
    })
    hls.loadSource(url)
    hls.attachMedia(video)
  })
}
