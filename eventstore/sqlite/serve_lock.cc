#include "eventstore/sqlite/serve_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace rivulet::eventstore::sqlite {

std::string ServeLock::RealPath(const std::string& database_path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(database_path, ec);
  if (ec) return database_path;
  // Resolves every symlink and `..` of the part that exists, the file itself included.
  std::filesystem::path real = std::filesystem::weakly_canonical(absolute, ec);
  return ec ? absolute.lexically_normal().string() : real.string();
}

Result<std::unique_ptr<ServeLock>> ServeLock::Acquire(const std::string& database_path) {
  const std::string database = RealPath(database_path);
  std::string path = database + "-serve.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Status::Unavailable("cannot open the lock file " + path + ": " + std::strerror(errno));
  }
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;  // the whole file
  if (::fcntl(fd, F_OFD_SETLK, &lock) != 0) {
    const int err = errno;
    std::string owner;
    if (err == EAGAIN || err == EACCES) {
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) owner.push_back(buf[i]);
    }
    ::close(fd);
    if (err != EAGAIN && err != EACCES) {
      return Status::Unavailable("cannot lock " + path + ": " + std::strerror(err));
    }
    return Status::FailedPrecondition(
        "the store " + database + " is already served by another rivulet serve" +
        (owner.empty() ? std::string() : " (pid " + owner + ")") +
        "; a SQLite store serves one rivulet serve at a time (CLI commands work beside it)");
  }
  // The pid only serves the message a refused second server prints.
  const std::string pid = std::to_string(::getpid()) + "\n";
  const bool recorded = ::ftruncate(fd, 0) == 0 &&
                        ::pwrite(fd, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
  static_cast<void>(recorded);
  return std::unique_ptr<ServeLock>(new ServeLock(fd, std::move(path)));
}

ServeLock::~ServeLock() { ::close(fd_); }

}  // namespace rivulet::eventstore::sqlite
