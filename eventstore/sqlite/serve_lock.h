#pragma once

#include <memory>
#include <string>

#include "core/result.h"

namespace rivulet::eventstore::sqlite {

// The lock that lets one `rivulet serve` at a time own a SQLite store (SPEC 3): an
// exclusive open-file-description lock (fcntl F_OFD_SETLK) on `<db>-serve.lock`, where
// <db> is the database's real path (symlinks and `..` resolved), so every spelling of
// the same file meets the same lock. The kernel drops the lock when the process exits
// or dies (kill -9 included), so a restart after a crash takes it at once. The lock
// file holds the owner's pid for error messages; it stays on disk, and deleting it
// while a server runs defeats the lock. CLI commands do not take it.
class ServeLock {
 public:
  // Takes the lock, or FailedPrecondition naming the store (and the owner's pid when
  // known) if another process holds it; Unavailable if the lock file cannot be opened.
  static Result<std::unique_ptr<ServeLock>> Acquire(const std::string& database_path);

  // The real path of the database file `database_path` names (the file need not exist).
  static std::string RealPath(const std::string& database_path);

  ~ServeLock();  // releases the lock
  ServeLock(const ServeLock&) = delete;
  ServeLock& operator=(const ServeLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  ServeLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_;
  std::string path_;
};

}  // namespace rivulet::eventstore::sqlite
