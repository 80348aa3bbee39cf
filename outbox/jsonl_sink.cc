#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <string_view>
#include <unordered_set>

#include "outbox/sink.h"

namespace rivulet::outbox {

namespace {

class JsonlSink final : public Sink {
 public:
  explicit JsonlSink(Destination destination) : destination_(std::move(destination)) {}
  ~JsonlSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Open() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(destination_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      const int error = errno;
      const std::string why = "outbox destination " + destination_.name + ": cannot open " +
                              destination_.path + ": " + std::strerror(error);
      // A directory that is not there or not writable waits for a person.
      if (error == ENOENT || error == ENOTDIR || error == EACCES || error == EPERM ||
          error == EROFS || error == EISDIR || error == ELOOP) {
        return Status::FailedPrecondition(why +
                                          "; create its directory and let the user rivulet runs "
                                          "as write there, then restart rivulet");
      }
      return Status::Unavailable(why);
    }
    // The ids already in the file's tail: written before a crash, maybe not marked.
    const off_t size = ::lseek(fd_, 0, SEEK_END);
    const off_t from = size > kTail ? size - kTail : 0;
    std::string tail(static_cast<size_t>(size - from), '\0');
    if (::pread(fd_, tail.data(), tail.size(), from) != static_cast<ssize_t>(tail.size())) {
      return Status::Unavailable("outbox destination " + destination_.name + ": cannot read " +
                                 destination_.path);
    }
    size_t pos = from > 0 ? tail.find('\n') + 1 : 0;  // skip a partial first line
    while (pos < tail.size()) {
      size_t end = tail.find('\n', pos);
      if (end == std::string::npos) break;  // a torn last line: not delivered
      Remember(LineId(std::string_view(tail).substr(pos, end - pos)));
      pos = end + 1;
    }
    if (pos < tail.size() && size > 0) {
      // A torn line from a crash mid-write: end it so the next line stands alone.
      if (::write(fd_, "\n", 1) != 1 || ::fsync(fd_) != 0) {
        return Status::Unavailable("outbox destination " + destination_.name + ": cannot repair " +
                                   destination_.path);
      }
    }
    return Status::Ok();
  }

  bool ordered_batches() const override { return true; }

  std::vector<Delivery> Deliver(const std::vector<Message>& batch) override {
    std::string text;
    for (const Message& m : batch) {
      if (written_.count(m.id)) continue;  // in the file already
      text += "{\"id\":" + core::DumpJson(core::Json(m.id)) +
              ",\"destination\":" + core::DumpJson(core::Json(m.destination)) +
              ",\"key\":" + core::DumpJson(core::Json(m.key)) + ",\"headers\":" + m.headers +
              ",\"payload\":" + m.payload + "}\n";
    }
    std::string error;
    size_t done = 0;
    while (done < text.size()) {
      ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        error = std::strerror(errno);
        break;
      }
      done += static_cast<size_t>(n);
    }
    if (error.empty() && ::fsync(fd_) != 0) error = std::string("fsync: ") + std::strerror(errno);
    std::vector<Delivery> out(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (error.empty()) {
        out[i].delivered = true;
        Remember(batch[i].id);
      } else {
        out[i].error = destination_.path + ": " + error;
      }
    }
    return out;
  }

 private:
  static constexpr off_t kTail = 32 << 20;

  // The id of a line this sink wrote ({"id":"<uuid>",...} without escapes), or of any
  // other JSON line with a string id; "" if none.
  static std::string LineId(std::string_view line) {
    constexpr std::string_view kPrefix = "{\"id\":\"";
    if (line.substr(0, kPrefix.size()) == kPrefix) {
      size_t end = line.find('"', kPrefix.size());
      std::string_view id = line.substr(kPrefix.size(), end - kPrefix.size());
      if (end != std::string_view::npos && id.find('\\') == std::string_view::npos)
        return std::string(id);
    }
    const core::Json parsed = core::ParseJsonOr(line, core::Json(), core::kStoredJson);
    if (parsed.is_object() && parsed.contains("id") && parsed["id"].is_string())
      return parsed["id"];
    return "";
  }

  void Remember(const std::string& id) {
    if (id.empty() || !written_.insert(id).second) return;
    order_.push_back(id);
    if (order_.size() > 200'000) {
      written_.erase(order_.front());
      order_.pop_front();
    }
  }

  Destination destination_;
  int fd_ = -1;
  std::unordered_set<std::string> written_;
  std::deque<std::string> order_;
};

}  // namespace

std::unique_ptr<Sink> MakeJsonlSink(const Destination& destination) {
  return std::make_unique<JsonlSink>(destination);
}

}  // namespace rivulet::outbox
