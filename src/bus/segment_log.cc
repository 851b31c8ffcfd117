#include "bus/segment_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <memory>

#include "bus/log_format.h"
#include "common/crc32c.h"
#include "common/file_util.h"
#include "common/thread_name.h"

namespace inlet::bus {
namespace fs = std::filesystem;
namespace lf = log_format;

namespace {

// The reader's scratch buffer: not zero-filled, and kept per thread (up to
// 4 MiB) so that the subscriptions' frequent reads do not allocate. Growing
// discards the contents: every caller reads into it again.
class ReadBuffer {
 public:
  ReadBuffer() : data_(std::move(cached_)), capacity_(cached_capacity_) { cached_capacity_ = 0; }
  ~ReadBuffer() {
    if (capacity_ <= kKeepBytes && capacity_ > cached_capacity_) {
      cached_ = std::move(data_);
      cached_capacity_ = capacity_;
    }
  }
  ReadBuffer(const ReadBuffer&) = delete;
  ReadBuffer& operator=(const ReadBuffer&) = delete;

  void resize(size_t n) {
    if (n > capacity_) {
      data_.reset(new char[n]);
      capacity_ = n;
    }
    size_ = n;
  }
  char* data() { return data_.get(); }
  size_t size() const { return size_; }

 private:
  static constexpr size_t kKeepBytes = 4u << 20;
  static thread_local std::unique_ptr<char[]> cached_;
  static thread_local size_t cached_capacity_;
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t size_ = 0;
};

thread_local std::unique_ptr<char[]> ReadBuffer::cached_;
thread_local size_t ReadBuffer::cached_capacity_ = 0;

void PutU16(std::string* s, uint16_t v) { s->append(reinterpret_cast<const char*>(&v), 2); }
void PutU32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void PutU64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }
template <typename T>
T Get(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

std::string SegmentName(uint64_t base) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu", static_cast<unsigned long long>(base));
  return buf;
}

// Parses one record at buf[0, n). Returns bytes consumed, 0 if incomplete,
// -1 if corrupt. On success fills *seq and, when msg is not null, *msg.
int64_t ParseRecord(const char* buf, size_t n, uint64_t* seq, Message* msg) {
  if (n < lf::kRecordHeaderSize) return 0;
  uint32_t len = Get<uint32_t>(buf);
  uint32_t crc = Get<uint32_t>(buf + 4);
  if (len < lf::kBodyFixedSize || len > lf::kMaxBodySize) return -1;
  if (n < lf::kRecordHeaderSize + len) return 0;
  const char* body = buf + lf::kRecordHeaderSize;
  if (Crc32c(body, len) != crc) return -1;
  *seq = Get<uint64_t>(body);
  uint16_t key_len = Get<uint16_t>(body + 16);
  uint32_t attr_len = Get<uint32_t>(body + 18);
  if (lf::kBodyFixedSize + key_len + static_cast<uint64_t>(attr_len) > len) return -1;
  if (msg != nullptr) {
    msg->seq = *seq;
    msg->arrival_us = Get<int64_t>(body + 8);
    const char* p = body + lf::kBodyFixedSize;
    msg->key_id.assign(p, key_len);
    p += key_len;
    msg->attributes.assign(p, attr_len);
    p += attr_len;
    msg->payload.assign(p, body + len - p);
  }
  return static_cast<int64_t>(lf::kRecordHeaderSize + len);
}

}  // namespace

struct SegmentLog::Segment {
  uint64_t base = 0;
  uint64_t last_seq = 0;  // 0 when empty (base - 1 semantically)
  uint64_t size = 0;      // durable bytes, header included
  bool sealed = false;
  int fd = -1;
  fs::path path;
  std::chrono::system_clock::time_point last_write;
  std::vector<std::pair<uint64_t, uint64_t>> index;  // (seq, offset), sparse
  uint64_t last_indexed_offset = 0;

  ~Segment() {
    if (fd >= 0) ::close(fd);
  }
  bool Empty() const { return last_seq < base; }
};

SegmentLog::SegmentLog(fs::path dir, SegmentLogOptions options)
    : dir_(std::move(dir)), options_(options) {}

Result<std::unique_ptr<SegmentLog>> SegmentLog::Open(fs::path dir, SegmentLogOptions options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create log folder " + dir.string() + ": " + ec.message());
  std::unique_ptr<SegmentLog> log(new SegmentLog(std::move(dir), options));
  INLET_RETURN_IF_ERROR(log->Recover());
  log->writer_ = std::thread([l = log.get()] {
    SetThreadName("log:" + l->dir_.filename().string());
    l->WriterLoop();
  });
  return log;
}

SegmentLog::~SegmentLog() {
  {
    std::lock_guard lock(queue_mu_);
    closing_ = true;
  }
  queue_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  WakeAll();
  uint64_t bytes = 0;
  for (auto& s : segments_) bytes += s->size;
  if (options_.budget) options_.budget->Add(-static_cast<int64_t>(bytes));
}

Status SegmentLog::Recover() {
  std::vector<uint64_t> bases;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != lf::kSegmentSuffix) continue;
    if (name.size() != 20 + std::strlen(lf::kSegmentSuffix)) continue;
    bases.push_back(std::stoull(name.substr(0, 20)));
  }
  std::sort(bases.begin(), bases.end());

  uint64_t expected = bases.empty() ? 1 : bases.front();
  for (size_t i = 0; i < bases.size(); ++i) {
    auto seg = std::make_shared<Segment>();
    seg->base = bases[i];
    seg->path = dir_ / (SegmentName(bases[i]) + lf::kSegmentSuffix);
    seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) return Status::FromErrno(errno, "open " + seg->path.string());
    struct stat st {};
    fstat(seg->fd, &st);
    seg->last_write = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec));
    const bool last = i + 1 == bases.size();
    char header[lf::kSegmentHeaderSize];
    bool header_ok =
        ::pread(seg->fd, header, sizeof(header), 0) == static_cast<ssize_t>(sizeof(header)) &&
        std::memcmp(header, lf::kMagic, 8) == 0 && Get<uint32_t>(header + 8) == lf::kVersion &&
        Get<uint64_t>(header + 16) == seg->base;
    if (!header_ok) {
      if (!last) return Status::Corruption("bad segment header in " + seg->path.string());
      // A segment whose creation was torn holds no acknowledged data.
      ::close(seg->fd);
      seg->fd = -1;
      fs::remove(seg->path);
      INLET_RETURN_IF_ERROR(FsyncDir(dir_));
      break;
    }
    if (seg->base != expected) {
      return Status::Corruption("segment " + seg->path.string() + " starts at seq " +
                                std::to_string(seg->base) + ", expected " +
                                std::to_string(expected));
    }
    // Scan the records: builds the sparse index, finds the last seq and, in
    // the last segment, the torn tail.
    const uint64_t file_size = static_cast<uint64_t>(st.st_size);
    uint64_t offset = lf::kSegmentHeaderSize;
    uint64_t next = seg->base;
    std::string buf;  // file bytes [buf_start, buf_start + buf.size())
    uint64_t buf_start = offset;
    bool bad = false;
    while (offset < file_size) {
      uint64_t seq = 0;
      size_t in_buf = buf_start + buf.size() - offset;
      int64_t used = ParseRecord(buf.data() + (offset - buf_start), in_buf, &seq, nullptr);
      if (used == 0) {  // refill from `offset`, large enough for the next record
        size_t need = 4 << 20;
        if (in_buf >= lf::kRecordHeaderSize) {
          need = std::max<size_t>(
              need,
              lf::kRecordHeaderSize +
                  std::min(Get<uint32_t>(buf.data() + (offset - buf_start)), lf::kMaxBodySize));
        }
        buf.resize(std::min<uint64_t>(need, file_size - offset));
        ssize_t r = ::pread(seg->fd, buf.data(), buf.size(), static_cast<off_t>(offset));
        if (r < 0) return Status::FromErrno(errno, "read " + seg->path.string());
        buf.resize(static_cast<size_t>(r));
        buf_start = offset;
        used = ParseRecord(buf.data(), buf.size(), &seq, nullptr);
      }
      if (used <= 0 || seq != next) {  // torn (incomplete) or corrupt record
        bad = true;
        break;
      }
      if (seg->index.empty() || offset - seg->last_indexed_offset >= lf::kIndexIntervalBytes) {
        seg->index.emplace_back(seq, offset);
        seg->last_indexed_offset = offset;
      }
      offset += static_cast<uint64_t>(used);
      ++next;
    }
    if (bad || offset != file_size) {
      if (!last) {
        return Status::Corruption("corrupt record at offset " + std::to_string(offset) + " of " +
                                  seg->path.string() + " (a sealed segment)");
      }
      truncated_on_recovery_ = file_size - offset;
      if (::ftruncate(seg->fd, static_cast<off_t>(offset)) != 0 || ::fsync(seg->fd) != 0) {
        return Status::FromErrno(errno, "truncate torn tail of " + seg->path.string());
      }
    }
    seg->size = offset;
    seg->last_seq = next - 1;
    seg->sealed = !last;
    expected = next;
    if (options_.budget) options_.budget->Add(static_cast<int64_t>(seg->size));
    segments_.push_back(std::move(seg));
  }
  next_seq_ = expected;
  durable_seq_.store(expected - 1);
  if (segments_.empty()) return OpenNewSegment(next_seq_);
  return Status::Ok();
}

Status SegmentLog::OpenNewSegment(uint64_t base_seq) {
  auto seg = std::make_shared<Segment>();
  seg->base = base_seq;
  seg->last_seq = base_seq - 1;
  seg->path = dir_ / (SegmentName(base_seq) + lf::kSegmentSuffix);
  seg->fd = ::open(seg->path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (seg->fd < 0) return Status::FromErrno(errno, "create " + seg->path.string());
  std::string header(lf::kMagic, 8);
  PutU32(&header, lf::kVersion);
  PutU32(&header, 0);
  PutU64(&header, base_seq);
  if (!WriteAll(seg->fd, header.data(), header.size()) || ::fdatasync(seg->fd) != 0) {
    Status st = Status::FromErrno(errno, "write header of " + seg->path.string());
    ::close(seg->fd);
    seg->fd = -1;
    fs::remove(seg->path);
    return st;
  }
  INLET_RETURN_IF_ERROR(FsyncDir(dir_));
  seg->size = header.size();
  seg->last_write = std::chrono::system_clock::now();
  if (options_.budget) options_.budget->Add(static_cast<int64_t>(seg->size));
  std::unique_lock lock(segments_mu_);
  if (!segments_.empty()) segments_.back()->sealed = true;
  segments_.push_back(std::move(seg));
  return Status::Ok();
}

void SegmentLog::AppendAsync(std::vector<OutgoingEvent> events, int64_t arrival_us,
                             Topic::PublishDone done) {
  if (events.empty()) {
    done(Status::InvalidArgument("empty batch"));
    return;
  }
  size_t bytes = 0;
  for (const auto& e : events) {
    bytes += lf::kRecordHeaderSize + lf::kBodyFixedSize + e.payload.size() + e.attributes.size() +
             e.key_id.size();
    if (e.key_id.size() > UINT16_MAX) {
      done(Status::InvalidArgument("key id longer than 65535 bytes"));
      return;
    }
  }
  if (options_.budget && options_.budget->Exceeded()) {
    done(Status::NoSpace("the log disk budget of " + std::to_string(options_.budget->limit()) +
                         " bytes is used up until subscriptions acknowledge older data"));
    return;
  }
  {
    std::unique_lock lock(queue_mu_);
    if (closing_) {
      lock.unlock();
      done(Status::Unavailable("the log is closing"));
      return;
    }
    if (queue_bytes_ + bytes > options_.max_pending_bytes && !queue_.empty()) {
      lock.unlock();
      done(Status::ResourceExhausted("the write queue is full (" +
                                     std::to_string(options_.max_pending_bytes) + " bytes)"));
      return;
    }
    queue_bytes_ += bytes;
    queue_.push_back(Pending{std::move(events), arrival_us, std::move(done), bytes});
  }
  queue_cv_.notify_one();
}

void SegmentLog::WriterLoop() {
  std::deque<Pending> batch;
  for (;;) {
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty() && closing_) return;
      batch.swap(queue_);
      queue_bytes_ = 0;
      if (closing_) {
        lock.unlock();
        for (auto& p : batch) p.done(Status::Unavailable("the log is closing"));
        batch.clear();
        return;
      }
    }
    CommitBatch(batch);
    batch.clear();
  }
}

void SegmentLog::CommitBatch(std::deque<Pending>& batch) {
  std::shared_ptr<Segment> seg;
  {
    std::shared_lock lock(segments_mu_);
    seg = segments_.back();
  }
  write_buf_.clear();
  const uint64_t start_offset = seg->size;
  uint64_t seq = next_seq_;
  std::vector<std::pair<uint64_t, uint64_t>> new_index;
  uint64_t last_indexed = seg->last_indexed_offset;
  std::vector<SeqRange> ranges;
  ranges.reserve(batch.size());
  for (auto& p : batch) {
    SeqRange range{seq, seq + p.events.size() - 1};
    for (auto& e : p.events) {
      uint64_t offset = start_offset + write_buf_.size();
      if ((seg->index.empty() && new_index.empty()) ||
          offset - last_indexed >= lf::kIndexIntervalBytes) {
        new_index.emplace_back(seq, offset);
        last_indexed = offset;
      }
      const uint32_t body_len = static_cast<uint32_t>(lf::kBodyFixedSize + e.key_id.size() +
                                                      e.attributes.size() + e.payload.size());
      size_t frame = write_buf_.size();
      PutU32(&write_buf_, body_len);
      PutU32(&write_buf_, 0);  // crc, below
      PutU64(&write_buf_, seq);
      PutU64(&write_buf_, static_cast<uint64_t>(p.arrival_us));
      PutU16(&write_buf_, static_cast<uint16_t>(e.key_id.size()));
      PutU32(&write_buf_, static_cast<uint32_t>(e.attributes.size()));
      write_buf_.append(e.key_id);
      write_buf_.append(e.attributes);
      write_buf_.append(e.payload);
      uint32_t crc = Crc32c(write_buf_.data() + frame + lf::kRecordHeaderSize, body_len);
      std::memcpy(write_buf_.data() + frame + 4, &crc, 4);
      ++seq;
    }
    ranges.push_back(range);
  }

  auto t0 = std::chrono::steady_clock::now();
  Status st;
  if (!PwriteAll(seg->fd, write_buf_.data(), write_buf_.size(), start_offset)) {
    st = Status::FromErrno(errno, "append to " + seg->path.string());
  } else if (options_.fsync && ::fdatasync(seg->fd) != 0) {
    st = Status::FromErrno(errno, "fsync " + seg->path.string());
  }
  auto t1 = std::chrono::steady_clock::now();
  fsyncs_.fetch_add(1, std::memory_order_relaxed);
  last_fsync_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count(),
                       std::memory_order_relaxed);
  if (Histogram* h = fsync_histogram_.load(std::memory_order_relaxed)) {
    h->Observe(std::chrono::duration<double>(t1 - t0).count());
  }

  if (!st.ok()) {
    // Nothing of this batch is acknowledged: cut the file back so that a
    // partial write never becomes visible, and report the error.
    if (::ftruncate(seg->fd, static_cast<off_t>(start_offset)) == 0) ::fdatasync(seg->fd);
    for (auto& p : batch) p.done(st);
    return;
  }

  {
    std::unique_lock lock(segments_mu_);
    seg->size = start_offset + write_buf_.size();
    seg->last_seq = seq - 1;
    seg->last_write = std::chrono::system_clock::now();
    seg->index.insert(seg->index.end(), new_index.begin(), new_index.end());
    seg->last_indexed_offset = last_indexed;
  }
  if (options_.budget) options_.budget->Add(static_cast<int64_t>(write_buf_.size()));
  next_seq_ = seq;
  durable_seq_.store(seq - 1, std::memory_order_release);
  appended_batches_.fetch_add(batch.size(), std::memory_order_relaxed);
  record_bytes_.store(write_buf_.size() / std::max<uint64_t>(1, seq - ranges.front().first),
                      std::memory_order_relaxed);
  { std::lock_guard lock(wait_mu_); }
  wait_cv_.notify_all();
  for (size_t i = 0; i < batch.size(); ++i) batch[i].done(ranges[i]);

  if (seg->size >= options_.segment_bytes) {
    Status roll = OpenNewSegment(next_seq_);
    (void)roll;  // on failure the current segment keeps growing; retried next batch
  }
  if (write_buf_.capacity() > (64u << 20)) std::string().swap(write_buf_);
}

std::shared_ptr<SegmentLog::Segment> SegmentLog::FindSegment(uint64_t seq) const {
  std::shared_lock lock(segments_mu_);
  auto it = std::upper_bound(segments_.begin(), segments_.end(), seq,
                             [](uint64_t s, const auto& seg) { return s < seg->base; });
  if (it == segments_.begin()) return segments_.empty() ? nullptr : segments_.front();
  return *(it - 1);
}

Status SegmentLog::Read(uint64_t from, size_t max_records, size_t max_bytes,
                        std::vector<Message>* out, ReadHint* hint) const {
  const uint64_t durable = last_durable_seq();
  const size_t record_bytes = std::max<uint64_t>(64, record_bytes_.load(std::memory_order_relaxed));
  size_t got = 0, bytes = 0;
  ReadBuffer buf;
  if (from <= durable) {  // for the records there are, at most 16Ki
    out->reserve(out->size() + std::min<uint64_t>({max_records, durable - from + 1, 16384}));
  }
  while (got < max_records && from <= durable) {
    std::shared_ptr<Segment> seg = FindSegment(from);
    if (!seg) break;
    if (from < seg->base) from = seg->base;  // older segments were deleted
    uint64_t offset, seq, size, last_seq;
    int fd;
    {
      std::shared_lock lock(segments_mu_);
      size = seg->size;
      last_seq = seg->last_seq;
      fd = seg->fd;
      if (hint && hint->segment_base == seg->base && hint->seq <= from && hint->seq >= seg->base &&
          hint->offset >= lf::kSegmentHeaderSize) {
        offset = hint->offset;
        seq = hint->seq;
      } else {
        auto it = std::upper_bound(seg->index.begin(), seg->index.end(), from,
                                   [](uint64_t s, const auto& e) { return s < e.first; });
        if (it == seg->index.begin()) {
          offset = lf::kSegmentHeaderSize;
          seq = seg->base;
        } else {
          offset = (it - 1)->second;
          seq = (it - 1)->first;
        }
      }
    }
    if (from > last_seq) {
      if (seg->sealed) {
        from = last_seq + 1;
        continue;
      }
      break;
    }
    // Read forward through this segment.
    while (offset < size && got < max_records && seq <= durable) {
      // As much as the records and bytes asked for should take (by the size
      // of recent records, plus one record of slack), between 4 KiB and
      // 16 MiB: reading far ahead copied and discarded megabytes per call.
      const size_t by_records = (max_records - got + 1) * record_bytes;
      const size_t by_bytes = max_bytes - std::min(bytes, max_bytes) + 2 * record_bytes;
      size_t want = std::clamp<size_t>(std::min(by_records, by_bytes), 4096, 16u << 20);
      want = std::min<uint64_t>(want, size - offset);
      buf.resize(want);
      ssize_t r = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
      if (r <= 0) return Status::FromErrno(r < 0 ? errno : EIO, "read " + seg->path.string());
      buf.resize(static_cast<size_t>(r));
      size_t pos = 0;
      bool progressed = false;
      while (pos < buf.size() && got < max_records) {
        uint64_t rec_seq = 0;
        Message msg;
        const bool wanted = seq >= from;
        int64_t used =
            ParseRecord(buf.data() + pos, buf.size() - pos, &rec_seq, wanted ? &msg : nullptr);
        if (used == 0) {
          if (pos == 0) {  // one record larger than the buffer: grow and retry
            uint32_t len = Get<uint32_t>(buf.data());
            buf.resize(lf::kRecordHeaderSize + len);
            r = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
            if (r != static_cast<ssize_t>(buf.size())) {
              return Status::Corruption("short record at offset " + std::to_string(offset) +
                                        " of " + seg->path.string());
            }
            continue;
          }
          break;
        }
        if (used < 0 || rec_seq != seq) {
          return Status::Corruption("corrupt record at offset " + std::to_string(offset + pos) +
                                    " of " + seg->path.string() + " (expected seq " +
                                    std::to_string(seq) + ")");
        }
        pos += static_cast<size_t>(used);
        progressed = true;
        if (wanted) {
          bytes += msg.payload.size() + msg.attributes.size();
          out->push_back(std::move(msg));
          ++got;
        }
        ++seq;
        if (seq > durable || (got > 0 && bytes >= max_bytes)) break;
      }
      offset += pos;
      if (!progressed) break;
      if (got > 0 && bytes >= max_bytes) break;
    }
    if (hint) *hint = ReadHint{seq, seg->base, offset};
    from = seq;
    if (got > 0 && bytes >= max_bytes) break;
    if (offset >= size && !seg->sealed) break;
  }
  return Status::Ok();
}

uint64_t SegmentLog::first_seq() const {
  std::shared_lock lock(segments_mu_);
  return segments_.empty() ? durable_seq_.load() + 1 : segments_.front()->base;
}

bool SegmentLog::WaitFor(uint64_t seq, std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(wait_mu_);
  return wait_cv_.wait_until(lock, deadline, [&] { return woken_ || last_durable_seq() >= seq; }) &&
         last_durable_seq() >= seq;
}

void SegmentLog::WakeAll() {
  {
    std::lock_guard lock(wait_mu_);
    woken_ = true;
  }
  wait_cv_.notify_all();
}

uint64_t SegmentLog::DeleteSegments(uint64_t acked_below,
                                    std::chrono::system_clock::time_point written_before) {
  std::vector<std::shared_ptr<Segment>> doomed;
  {
    std::unique_lock lock(segments_mu_);
    while (segments_.size() > 1) {
      auto& s = segments_.front();
      if (!s->sealed || s->last_seq >= acked_below || s->last_write > written_before) break;
      doomed.push_back(s);
      segments_.erase(segments_.begin());
    }
  }
  uint64_t freed = 0;
  for (auto& s : doomed) {
    std::error_code ec;
    fs::remove(s->path, ec);
    if (!ec) {
      freed += s->size;
      if (options_.budget) options_.budget->Add(-static_cast<int64_t>(s->size));
    }
  }
  if (!doomed.empty()) (void)FsyncDir(dir_);
  return freed;
}

LogStats SegmentLog::Stats() const {
  LogStats st;
  {
    std::shared_lock lock(segments_mu_);
    for (auto& s : segments_) st.bytes += s->size;
    st.segments = segments_.size();
  }
  st.appended_batches = appended_batches_.load();
  st.fsyncs = fsyncs_.load();
  st.last_fsync_seconds = last_fsync_ns_.load() / 1e9;
  st.truncated_bytes_on_recovery = truncated_on_recovery_;
  return st;
}

}  // namespace inlet::bus
