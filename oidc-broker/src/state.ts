// The broker's state lives behind the Store interface (store/types.ts); this module keeps the names the rest of the
// broker imports. The embedded engine is store/sqlite.ts.
export type {
  AuditQuery,
  AuditRecord,
  ClaimRow,
  Revocation,
  RevocationKind,
  RevocationSubject,
  Store,
} from './store/types';
export { StoreUnavailableError } from './store/types';
export { REVOCATION_POLL_MS, SCHEMA_VERSION, SqliteStore } from './store/sqlite';
