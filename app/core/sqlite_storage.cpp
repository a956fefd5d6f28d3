#include "conversation_storage.hpp"

namespace ravel::app {

ravel::Result<std::unique_ptr<ConversationStorage>> open_sqlite_storage(const QString& path) {
    (void)path;
    return ravel::make_error("this build has no SQLite storage");
}

}  // namespace ravel::app
