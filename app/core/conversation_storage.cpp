// The parts of the storage interface every implementation shares: the transfer format a file
// name asks for, and import and export where there is no conversation database.
#include "conversation_storage.hpp"

namespace ravel::app {

TransferFormat transfer_format_for(const QString& path) {
    const QString lower = path.toLower();
    return lower.endsWith(QStringLiteral(".md")) || lower.endsWith(QStringLiteral(".markdown"))
               ? TransferFormat::Markdown
               : TransferFormat::Json;
}

namespace {
ravel::Error no_database() {
    return make_error(
        "import and export need the conversation database, which could not be opened this "
        "session (see the message shown at start)");
}
}  // namespace

ravel::Result<ExportedFile> ConversationStorage::exportConversation(qint64, TransferFormat, qint64,
                                                                    bool) {
    return no_database();
}

ravel::Result<StoredLibrary> ConversationStorage::importConversation(const std::string&,
                                                                     TransferFormat) {
    return no_database();
}

void ConversationStorage::adoptIds(const ImportedIds&) {}

}  // namespace ravel::app
