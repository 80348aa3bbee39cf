#pragma once

#include <atomic>
#include <string>

namespace rivulet::testing {

// A SQLite VFS that wraps the default one and fails on command, the way leveldb's
// SpecialEnv injects faults: the store runs its real code paths against real files,
// and only the chosen system call reports an error.
class FaultyVfs {
 public:
  // Registers the VFS (once per process) and returns its name, for
  // SqliteStoreOptions::vfs.
  static const std::string& Name();

  // While set, every xSync (fsync) fails with SQLITE_IOERR_FSYNC.
  static void FailSyncs(bool fail);
  // While set, every xWrite fails with SQLITE_IOERR_WRITE (as on a full disk).
  static void FailWrites(bool fail);
  static uint64_t syncs();
};

}  // namespace rivulet::testing
