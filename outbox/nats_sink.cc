#include <nats/nats.h>

#include <algorithm>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/http_rules.h"
#include "outbox/sink.h"

namespace rivulet::outbox {

namespace {

std::string Text(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0)) {
  std::string text = natsStatus_GetText(s);
  if (code != 0) text += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return text;
}

// A JetStream API call that failed: FailedPrecondition for what a person must fix
// (JetStream not enabled, subjects that overlap another stream's, permissions), else
// Unavailable.
Status JetStreamError(const std::string& what, natsStatus s, jsErrCode code) {
  const std::string message = what + ": " + Text(s, code);
  if (code == JSNotEnabledErr || code == JSNotEnabledForAccountErr) {
    return Status::FailedPrecondition(message +
                                      "; enable JetStream on the NATS server (nats-server -js), "
                                      "then restart rivulet");
  }
  if (code == JSStreamSubjectOverlapErr) {
    return Status::FailedPrecondition(message +
                                      "; another stream takes these subjects: name that stream "
                                      "in the destination, or change its subjects, then "
                                      "restart rivulet");
  }
  if (s == NATS_NOT_PERMITTED) {
    return Status::FailedPrecondition(message +
                                      "; allow the destination's user the JetStream API, then "
                                      "restart rivulet");
  }
  return Status::Unavailable(message);
}

// The literal part of the subject template before its first ${...}: "rivulet.${type}"
// -> "rivulet.", so the stream is created for "rivulet.>".
std::string SubjectWildcard(const std::string& subject_template) {
  std::string prefix = subject_template.substr(0, subject_template.find("${"));
  if (prefix.empty()) return ">";
  if (prefix == subject_template) return subject_template;  // a fixed subject
  if (prefix.back() != '.') prefix = prefix.substr(0, prefix.rfind('.') + 1);
  return prefix + ">";
}

// A subject a message can be published to: dot-separated tokens, none empty, no
// whitespace or control characters (they would break the protocol line and cost the
// connection), no wildcards (`*`, `>`: reserved for subscriptions). Empty if valid, else
// why not.
std::string InvalidSubject(const std::string& subject) {
  if (subject.empty()) return "the subject is empty";
  if (subject.front() == '.' || subject.back() == '.' || subject.find("..") != std::string::npos)
    return "subject \"" + subject.substr(0, 128) + "\" has an empty token";
  for (size_t i = 0; i < subject.size(); ++i) {
    const auto c = static_cast<unsigned char>(subject[i]);
    if (c <= 0x20 || c == 0x7f) {
      return "subject \"" + subject.substr(0, 128) +
             "\" has a space or control character at byte " + std::to_string(i);
    }
    if (c == '*' || c == '>') {
      return "subject \"" + subject.substr(0, 128) + "\" has a wildcard ('" + static_cast<char>(c) +
             "'), which cannot be published to";
    }
  }
  return "";
}

// JetStream publish with Nats-Msg-Id set to the message id, so the stream's duplicate
// window drops a message sent again after a crash; waits for every acknowledgement.
class NatsSink final : public Sink {
 public:
  explicit NatsSink(Destination destination) : destination_(std::move(destination)) {}
  ~NatsSink() override { Close(); }

  void Close() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    js_ = nullptr;
    if (nc_ != nullptr) {
      natsConnection_Close(nc_);
      natsConnection_Destroy(nc_);
    }
    nc_ = nullptr;
  }

  Status Open() override {
    const std::string where = "outbox destination " + destination_.name + ": ";
    Close();  // a failed earlier attempt may have left a connection
    natsStatus s = natsConnection_ConnectTo(&nc_, destination_.url.c_str());
    if (s == NATS_CONNECTION_AUTH_FAILED || s == NATS_NOT_PERMITTED) {
      return Status::FailedPrecondition(where + "NATS at " + destination_.url +
                                        " refused the login (" + Text(s) +
                                        "): correct the credentials in the destination's url, "
                                        "then restart rivulet");
    }
    if (s == NATS_SECURE_CONNECTION_WANTED || s == NATS_SECURE_CONNECTION_REQUIRED) {
      return Status::FailedPrecondition(where + "NATS at " + destination_.url + ": " + Text(s) +
                                        ": make the url's scheme (nats:// or tls://) match the "
                                        "server's TLS setting, then restart rivulet");
    }
    if (s != NATS_OK)
      return Status::Unavailable(where + "cannot connect to " + destination_.url + ": " + Text(s));
    jsOptions options;
    jsOptions_Init(&options);
    options.PublishAsync.ErrHandler = &NatsSink::OnError;
    options.PublishAsync.ErrHandlerClosure = this;
    options.PublishAsync.MaxPending = 4096;
    s = natsConnection_JetStream(&js_, nc_, &options);
    if (s != NATS_OK) return Status::Unavailable(where + "JetStream: " + Text(s));

    const std::string wildcard =
        SubjectWildcard(destination_.subject ? destination_.subject->source() : "");
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    s = js_GetStreamInfo(&info, js_, destination_.stream.c_str(), nullptr, &code);
    if (s == NATS_NOT_FOUND) {
      jsStreamConfig config;
      jsStreamConfig_Init(&config);
      config.Name = destination_.stream.c_str();
      const char* subjects[] = {wildcard.c_str()};
      config.Subjects = subjects;
      config.SubjectsLen = 1;
      config.Duplicates = 10LL * 60 * 1000 * 1000 * 1000;  // 10 minutes, in ns
      s = js_AddStream(&info, js_, &config, nullptr, &code);
      if (s != NATS_OK) {
        return JetStreamError(
            where + "cannot create stream " + destination_.stream + " for " + wildcard, s, code);
      }
      jsStreamInfo_Destroy(info);
      return Status::Ok();
    }
    if (s != NATS_OK) return JetStreamError(where + "stream " + destination_.stream, s, code);
    bool covered = false;
    for (int i = 0; i < info->Config->SubjectsLen; ++i) {
      const std::string subject = info->Config->Subjects[i];
      covered = covered || subject == ">" || subject == wildcard ||
                (subject.size() > 1 && subject.back() == '>' &&
                 wildcard.rfind(subject.substr(0, subject.size() - 1), 0) == 0);
    }
    jsStreamInfo_Destroy(info);
    if (!covered) {
      return Status::FailedPrecondition(
          where + "stream " + destination_.stream + " does not cover the subjects " + wildcard +
          ", so no stream would take its messages: add them to the stream's subjects, or name "
          "another stream in the destination, then restart rivulet");
    }
    return Status::Ok();
  }

  bool ordered_batches() const override { return true; }

  std::vector<Delivery> Deliver(const std::vector<Message>& batch) override {
    std::vector<Delivery> out(batch.size());
    for (Delivery& d : out) d.attempted = false;
    // Each key's messages, in batch (seq) order.
    std::vector<std::vector<size_t>> keys;
    {
      std::unordered_map<std::string_view, size_t> key_index;
      for (size_t i = 0; i < batch.size(); ++i) {
        auto [it, added] = key_index.emplace(batch[i].key, keys.size());
        if (added) keys.emplace_back();
        keys[it->second].push_back(i);
      }
    }
    // Wave w publishes the w-th message of every key that has not failed yet; the wave's
    // acknowledgements all arrive before the next, so a key's order holds.
    {
      std::lock_guard<std::mutex> lock(mu_);
      errors_.clear();  // late errors of messages given up on in an earlier batch
    }
    std::vector<bool> stopped(keys.size(), false);
    for (size_t wave = 0;; ++wave) {
      std::vector<size_t> sent;
      bool any_left = false;
      for (size_t k = 0; k < keys.size(); ++k) {
        if (stopped[k] || wave >= keys[k].size()) continue;
        any_left = true;
        const size_t i = keys[k][wave];
        out[i].attempted = true;
        if (Publish(batch[i], out[i])) sent.push_back(i);
        if (!out[i].error.empty()) stopped[k] = true;
      }
      if (!any_left) break;
      const bool all_acknowledged = AwaitAcknowledgements(batch, sent, out);
      for (size_t k = 0; k < keys.size(); ++k) {
        if (!stopped[k] && wave < keys[k].size() && !out[keys[k][wave]].delivered)
          stopped[k] = true;
      }
      if (!all_acknowledged) break;  // the server is gone or slow: try again next round
    }
    return out;
  }

 private:
  // Starts an asynchronous publish; false (with the error) if it could not be sent.
  bool Publish(const Message& m, Delivery& d) {
    core::Json event = core::ParseJsonOr(m.payload, core::Json(), core::kStoredJson);
    auto subject = destination_.subject->EvaluateString(event);
    if (!subject.ok()) {
      d.retryable = false;
      d.error = "subject: " + subject.status().message();
      return false;
    }
    // Refused here, the message is dead; sent, it would cost the connection and every
    // message in flight on it.
    if (std::string invalid = InvalidSubject(*subject); !invalid.empty()) {
      d.retryable = false;
      d.error = "subject: " + invalid;
      return false;
    }
    const core::Json headers = m.Headers();
    for (auto h = headers.begin(); h != headers.end(); ++h) {
      if (!h->is_string()) continue;
      Status header = core::CheckHeaderField(h.key(), h->get<std::string>());
      if (!header.ok()) {
        d.retryable = false;
        d.error = header.message();
        return false;
      }
    }
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, subject->c_str(), nullptr, m.payload.data(),
                                  static_cast<int>(m.payload.size()));
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Nats-Msg-Id", m.id.c_str());
    for (auto h = headers.begin(); s == NATS_OK && h != headers.end(); ++h) {
      if (h->is_string())
        s = natsMsgHeader_Set(msg, h.key().c_str(), h->get<std::string>().c_str());
    }
    if (s == NATS_OK) s = js_PublishMsgAsync(js_, &msg, nullptr);  // takes the message
    if (msg != nullptr) natsMsg_Destroy(msg);
    if (s != NATS_OK) d.error = "publish: " + Text(s);
    return s == NATS_OK;
  }

  // Waits for the acknowledgements of `sent` and sets their outcomes; false if some did
  // not come within the destination's timeout.
  bool AwaitAcknowledgements(const std::vector<Message>& batch, const std::vector<size_t>& sent,
                             std::vector<Delivery>& out) {
    jsPubOptions wait;
    jsPubOptions_Init(&wait);
    wait.MaxWait = destination_.timeout.count();
    natsStatus done = js_PublishAsyncComplete(js_, &wait);
    std::unordered_set<std::string> unacked;
    if (done != NATS_OK) {
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
        for (int i = 0; i < pending.Count; ++i) {
          const char* id = nullptr;
          if (natsMsgHeader_Get(pending.Msgs[i], "Nats-Msg-Id", &id) == NATS_OK && id != nullptr)
            unacked.insert(id);
        }
        natsMsgList_Destroy(&pending);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i : sent) {
      const std::string& id = batch[i].id;
      if (auto e = errors_.find(id); e != errors_.end()) {
        out[i].error = e->second;
        errors_.erase(e);
      } else if (unacked.count(id)) {
        out[i].error = "no acknowledgement within the timeout";
      } else {
        out[i].delivered = true;
      }
    }
    return done == NATS_OK;
  }

  static void OnError(jsCtx*, jsPubAckErr* pae, void* closure) {
    auto* self = static_cast<NatsSink*>(closure);
    const char* id = nullptr;
    if (natsMsgHeader_Get(pae->Msg, "Nats-Msg-Id", &id) != NATS_OK || id == nullptr) return;
    std::string text = pae->ErrText != nullptr ? pae->ErrText : Text(pae->Err, pae->ErrCode);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->errors_[id] = "JetStream: " + text;
  }

  Destination destination_;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> errors_;  // GUARDED_BY(mu_): message id -> error
};

}  // namespace

std::unique_ptr<Sink> MakeNatsSink(const Destination& destination) {
  return std::make_unique<NatsSink>(destination);
}

}  // namespace rivulet::outbox
