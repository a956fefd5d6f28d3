#include "storage/sqlite_handle.hpp"

#include <sqlite3.h>

#include <climits>

namespace ravel::storage::sql {

void Db::Closer::operator()(sqlite3* db) const {
    sqlite3_close_v2(db);
}

Result<Db> Db::open(const std::filesystem::path& path) {
    sqlite3* raw = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    Db db;
    db.db_.reset(raw);
    if (rc != SQLITE_OK) {
        return make_error("cannot open database " + path.string() + ": " +
                          (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
    }
    sqlite3_extended_result_codes(raw, 1);
    return db;
}

Result<std::vector<std::byte>> Db::read_blob(const char* table, const char* column,
                                             std::int64_t rowid) const {
    sqlite3_blob* blob = nullptr;
    const int rc = sqlite3_blob_open(db_.get(), "main", table, column, rowid, 0, &blob);
    std::unique_ptr<sqlite3_blob, int (*)(sqlite3_blob*)> closer(blob, &sqlite3_blob_close);
    if (rc != SQLITE_OK) {
        return make_error(std::string("database: cannot read ") + table + "." + column + ": " +
                          sqlite3_errmsg(db_.get()));
    }
    std::vector<std::byte> out(static_cast<std::size_t>(sqlite3_blob_bytes(blob)));
    if (!out.empty() &&
        sqlite3_blob_read(blob, out.data(), static_cast<int>(out.size()), 0) != SQLITE_OK) {
        return make_error(std::string("database: cannot read ") + table + "." + column + ": " +
                          sqlite3_errmsg(db_.get()));
    }
    return out;
}

Result<void> Db::exec(std::string_view sql) {
    char* message = nullptr;
    const std::string text(sql);
    if (sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
        std::string m = message ? message : last_error();
        sqlite3_free(message);
        return make_error("database: " + m);
    }
    return {};
}

std::string Db::last_error() const {
    return db_ ? sqlite3_errmsg(db_.get()) : "no database";
}

std::int64_t Db::last_insert_id() const {
    return sqlite3_last_insert_rowid(db_.get());
}

int Db::changes() const {
    return sqlite3_changes(db_.get());
}

void Statement::Finalizer::operator()(sqlite3_stmt* s) const {
    sqlite3_finalize(s);
}

Result<Statement> Statement::prepare(const Db& db, std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    if (sql.size() > INT_MAX) return make_error("database: statement too long");
    if (sqlite3_prepare_v2(db.get(), sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
        SQLITE_OK) {
        return make_error("database: cannot prepare statement: " + db.last_error());
    }
    Statement s;
    s.db_ = db.get();
    s.stmt_.reset(raw);
    return s;
}

Statement& Statement::bind(int index, std::int64_t value) {
    if (sqlite3_bind_int64(stmt_.get(), index, value) != SQLITE_OK) {
        bind_error_ = make_error(std::string("database: bind failed: ") + sqlite3_errmsg(db_));
    }
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    if (sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                            SQLITE_UTF8) != SQLITE_OK) {
        bind_error_ = make_error(std::string("database: bind failed: ") + sqlite3_errmsg(db_));
    }
    return *this;
}

Statement& Statement::bind_blob(int index, std::span<const std::byte> blob) {
    // A zero-length blob is stored as an empty blob, not NULL.
    static const std::byte kEmpty{};
    const void* data = blob.empty() ? &kEmpty : blob.data();
    if (sqlite3_bind_blob64(stmt_.get(), index, data, blob.size(), SQLITE_STATIC) != SQLITE_OK) {
        bind_error_ = make_error(std::string("database: bind failed: ") + sqlite3_errmsg(db_));
    }
    return *this;
}

Statement& Statement::bind_null(int index) {
    sqlite3_bind_null(stmt_.get(), index);
    return *this;
}

Result<bool> Statement::step() {
    if (!bind_error_.ok()) return bind_error_.error();
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return make_error(std::string("database: ") + sqlite3_errmsg(db_));
}

Result<void> Statement::run() {
    for (;;) {
        auto r = step();
        if (!r) return r.error();
        if (!*r) return {};
    }
}

void Statement::reset() {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
    bind_error_ = {};
}

int Statement::columns() const {
    return sqlite3_column_count(stmt_.get());
}

ColumnType Statement::type(int column) const {
    switch (sqlite3_column_type(stmt_.get(), column)) {
        case SQLITE_INTEGER:
            return ColumnType::Integer;
        case SQLITE_FLOAT:
            return ColumnType::Float;
        case SQLITE_TEXT:
            return ColumnType::Text;
        case SQLITE_BLOB:
            return ColumnType::Blob;
        default:
            return ColumnType::Null;
    }
}

std::int64_t Statement::integer(int column) const {
    return sqlite3_column_int64(stmt_.get(), column);
}

double Statement::real(int column) const {
    return sqlite3_column_double(stmt_.get(), column);
}

std::string Statement::text(int column) const {
    const auto* p = sqlite3_column_text(stmt_.get(), column);
    const int n = sqlite3_column_bytes(stmt_.get(), column);
    if (p == nullptr || n <= 0) return {};
    return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::span<const std::byte> Statement::blob(int column) const {
    const void* p = sqlite3_column_blob(stmt_.get(), column);
    const int n = sqlite3_column_bytes(stmt_.get(), column);
    if (p == nullptr || n <= 0) return {};
    return {static_cast<const std::byte*>(p), static_cast<std::size_t>(n)};
}

Result<Transaction> Transaction::begin(Db& db) {
    if (auto r = db.exec("BEGIN IMMEDIATE"); !r) return r.error();
    return Transaction(&db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(other.db_) {
    other.db_ = nullptr;
}

Transaction::~Transaction() {
    if (db_ != nullptr) (void)db_->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
    if (db_ == nullptr) return make_error("database: transaction already finished");
    auto r = db_->exec("COMMIT");
    if (r) db_ = nullptr;
    return r;
}

}  // namespace ravel::storage::sql
