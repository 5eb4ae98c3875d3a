/** Reads a stream of newline-delimited JSON (NDJSON) and hands over each value as it lands. */
export async function readNdjson<T>(stream: ReadableStream<Uint8Array>, onValue: (value: T) => void): Promise<void> {
  const reader = stream.getReader()
  const decoder = new TextDecoder()
  let buffered = ''
  const flush = (final: boolean) => {
    let newline = buffered.indexOf('\n')
    while (newline >= 0) {
      const line = buffered.slice(0, newline).trim()
      buffered = buffered.slice(newline + 1)
      if (line) onValue(JSON.parse(line) as T)
      newline = buffered.indexOf('\n')
    }
    if (final && buffered.trim()) onValue(JSON.parse(buffered) as T)
  }
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffered += decoder.decode(value, { stream: true })
    flush(false)
  }
  buffered += decoder.decode()
  flush(true)
}
