#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace rivulet::sources {

// What a PostgreSQL failure means for a source, in abseil's codes:
//   FailedPrecondition  a person must fix something before trying again makes sense: a
//                       refused login (28P01 wrong password, 28000 pg_hba.conf or a
//                       missing role), a missing database (3D000), table (42P01) or
//                       publication (42704), missing privileges (42501), a prerequisite
//                       (55000: wal_level, an invalidated slot);
//   Unavailable         everything else, which may pass by itself: a refused or broken
//                       connection, a shutdown or start (57P0x), too many connections
//                       (53xxx), a slot in use by another process (55006).
// The message keeps PostgreSQL's words and, for FailedPrecondition, ends with what to do,
// then "restart rivulet": a source stops trying at FailedPrecondition.
//
// `sqlstate` is the failure's SQLSTATE when libpq gives one (a result's
// PG_DIAG_SQLSTATE); a connection that fails gives none, so for it the server's FATAL
// message decides (PostgreSQL sends those in English unless lc_messages says otherwise).
// `slot` and `source` name what a remedy tells to drop.
Status PgError(std::string_view sqlstate, std::string message, std::string_view slot = "",
               std::string_view source = "");

// A connection attempt that failed; `what` says which ("cannot connect to PostgreSQL").
Status PgConnectError(const std::string& what, const std::string& libpq_message);

// The publication a source needs is missing and creating it (with `create_sql`) failed
// with `why`: FailedPrecondition naming the statement to run by hand, or `why` as it is
// when it may pass.
Status PublicationNotCreated(const std::string& publication, const std::string& create_sql,
                             const Status& why);

}  // namespace rivulet::sources
