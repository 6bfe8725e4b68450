// The storyboard's WebVTT index: each cue names a tile of the sprite (`sprite.jpg#xywh=x,y,w,h`)
// for its time span; the seek bar shows the tile of the time under the pointer.
export interface Tile {
  start: number
  end: number
  image: string
  x: number
  y: number
  width: number
  height: number
}

function seconds(stamp: string): number {
  const parts = stamp.trim().split(':').map(Number)
  return parts.reduce((total, part) => total * 60 + part, 0)
}

export function parseStoryboard(text: string, base: string): Tile[] {
  const tiles: Tile[] = []
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n\n+/)
  for (const block of blocks) {
    const lines = block.split('\n').filter((line) => line.trim() !== '')
    const timing = lines.findIndex((line) => line.includes('-->'))
    const target = timing >= 0 ? lines[timing + 1] : undefined
    if (timing < 0 || !target) continue
    const [from, to] = (lines[timing] ?? '').split('-->')
    const hashAt = target.lastIndexOf('#xywh=')
    if (!from || !to || hashAt < 0) continue
    const [x, y, width, height] = target.slice(hashAt + 6).split(',').map(Number)
    if ([x, y, width, height].some((n) => n === undefined || Number.isNaN(n))) continue
    tiles.push({
      start: seconds(from),
      end: seconds(to.trim().split(/\s+/)[0] ?? ''),
      image: new URL(target.slice(0, hashAt), base).href,
      x: x ?? 0,
      y: y ?? 0,
      width: width ?? 0,
      height: height ?? 0,
    })
  }
  return tiles
}

export function tileAt(tiles: Tile[], time: number): Tile | undefined {
  return tiles.find((tile) => time >= tile.start && time < tile.end) ?? tiles[tiles.length - 1]
}

export async function loadStoryboard(vttUrl: string): Promise<Tile[]> {
  const response = await fetch(vttUrl)
  if (!response.ok) return []
  return parseStoryboard(await response.text(), vttUrl)
}
