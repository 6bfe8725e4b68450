// A stock hls.js player: plays a master playlist URL and reports what it played. With
// `seekTo`, once `seconds` have played it seeks there and plays on `playFor` seconds past it.
import Hls from 'hls.js'

window.playHls = function playHls(url, { seconds = 1.5, seekTo = null, playFor = 0.5, timeoutMs = 60000 } = {}) {
  return new Promise((resolve, reject) => {
    const video = document.createElement('video')
    video.muted = true
    document.body.appendChild(video)
    const hls = new Hls()
    const timer = setTimeout(() => reject(new Error(`no playback of ${url} in time`)), timeoutMs)
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        clearTimeout(timer)
        reject(new Error(`hls.js: ${data.type} ${data.details} ${data.response ? data.response.code : ''}`))
      }
    })
    hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
      let played = null
      video.play().catch((error) => reject(error))
      video.addEventListener('timeupdate', () => {
        if (played === null && video.currentTime >= seconds) {
          played = video.currentTime
          if (seekTo === null) {
            clearTimeout(timer)
            resolve({ currentTime: played, levels: data.levels.length })
            return
          }
          video.currentTime = seekTo
        } else if (played !== null && seekTo !== null && video.currentTime >= seekTo + playFor) {
          clearTimeout(timer)
          resolve({ currentTime: played, levels: data.levels.length, afterSeek: video.currentTime })
        }
      })
    })
    hls.loadSource(url)
    hls.attachMedia(video)
  })
}
