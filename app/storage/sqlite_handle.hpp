// RAII wrappers over the SQLite C API: a connection, a prepared statement and a transaction.
// Every failure becomes a Result carrying SQLite's message; nothing here throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace ravel::storage::sql {

class Db {
  public:
    static Result<Db> open(const std::filesystem::path& path);
    Db() = default;

    sqlite3* get() const { return db_.get(); }
    // Runs one or more statements that return no rows.
    Result<void> exec(std::string_view sql);
    std::string last_error() const;
    std::int64_t last_insert_id() const;
    // Rows changed by the last INSERT, UPDATE or DELETE.
    int changes() const;
    // The whole BLOB in `column` of the row `rowid` of `table`, read straight into the result
    // (incremental blob I/O): a column read through a statement is first assembled in a buffer
    // of SQLite's own, a second fresh copy of a snapshot's megabytes.
    Result<std::vector<std::byte>> read_blob(const char* table, const char* column,
                                             std::int64_t rowid) const;

  private:
    struct Closer {
        void operator()(sqlite3* db) const;
    };
    std::unique_ptr<sqlite3, Closer> db_;
};

// Column types as SQLite reports them; used to validate rows read back.
enum class ColumnType { Integer, Float, Text, Blob, Null };

class Statement {
  public:
    static Result<Statement> prepare(const Db& db, std::string_view sql);

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view text);
    Statement& bind_blob(int index, std::span<const std::byte> blob);
    Statement& bind_null(int index);
    Statement& bind(int index, std::optional<std::int64_t> value) {
        return value ? bind(index, *value) : bind_null(index);
    }

    // True while a row is available; false when done.
    Result<bool> step();
    // Steps to completion, for statements without rows.
    Result<void> run();
    void reset();

    int columns() const;
    ColumnType type(int column) const;
    std::int64_t integer(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    std::span<const std::byte> blob(int column) const;  // valid until the next step

  private:
    struct Finalizer {
        void operator()(sqlite3_stmt* s) const;
    };
    sqlite3* db_ = nullptr;
    std::unique_ptr<sqlite3_stmt, Finalizer> stmt_;
    Result<void> bind_error_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so a transaction never fails
// half way for lack of it); ROLLBACK in the destructor unless commit() succeeded.
class Transaction {
  public:
    static Result<Transaction> begin(Db& db);
    Transaction(Transaction&& other) noexcept;
    Transaction& operator=(Transaction&&) = delete;
    ~Transaction();
    Result<void> commit();

  private:
    explicit Transaction(Db* db) : db_(db) {}
    Db* db_ = nullptr;
};

}  // namespace ravel::storage::sql
