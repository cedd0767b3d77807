// Readiness probe of the test broker: one Metadata (v4) round trip over plain TCP, no dependencies.
// Exit 0 when the broker answers with at least one broker in the cluster metadata, 1 otherwise.
// Usage: node testinfra/kafka/metadata-probe.mjs [host] [port] [timeoutMs]
import net from 'node:net'

const host = process.argv[2] ?? '127.0.0.1'
const port = Number(process.argv[3] ?? 9092)
const timeoutMs = Number(process.argv[4] ?? 3000)
const correlationId = 0x414e4e4c
const clientId = Buffer.from('annals-probe')

// Request header v1 (api key 3 = Metadata, version 4), then body: topics = null (all), allow_auto_topic_creation = false.
const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4 + 1)
let o = 0
o = body.writeInt16BE(3, o)
o = body.writeInt16BE(4, o)
o = body.writeInt32BE(correlationId, o)
o = body.writeInt16BE(clientId.length, o)
o += clientId.copy(body, o)
o = body.writeInt32BE(-1, o)
body.writeInt8(0, o)
const frame = Buffer.concat([Buffer.alloc(4), body])
frame.writeInt32BE(body.length, 0)

const socket = net.connect({ host, port })
const timer = setTimeout(() => fail('timeout'), timeoutMs)
let received = Buffer.alloc(0)
socket.on('connect', () => socket.write(frame))
socket.on('error', (e) => fail(e.message))
socket.on('data', (chunk) => {
  received = Buffer.concat([received, chunk])
  if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return
  // Response v4: correlation id, throttle_time_ms, brokers: [node_id, host, port, rack]
  const id = received.readInt32BE(4)
  const brokers = received.readInt32BE(12)
  if (id !== correlationId) return fail(`correlation id ${id}`)
  if (brokers < 1) return fail('no broker in the metadata yet')
  clearTimeout(timer)
  socket.end()
  console.log(`kafka metadata: ${brokers} broker(s)`)
  process.exit(0)
})

function fail(reason) {
  console.error(`kafka not ready: ${reason}`)
  process.exit(1)
}
