#include "app_settings.hpp"

#include <QDir>
#include <QJsonDocument>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QThread>

#include "ravel/tensor.hpp"

namespace ravel::app {

const QList<AppSettings::Default>& AppSettings::defaults() {
    static const QList<Default> table = {
        {"model/path", QString()},
        {"model/recent", QStringList()},
        {"model/threads", 0},                         // 0: one per physical core
        {"model/device", QStringLiteral("auto")},     // a GPU when one can be used, else the CPU
        {"model/weights", QStringLiteral("stored")},  // as the file holds them, or a type name
        {"ui/theme", QStringLiteral("system")},
        {"chat/systemPrompt", QString()},
        {"chat/sampling", QString()},     // JSON of SamplingSettings; empty: built-in Balanced
        {"chat/userPresets", QString()},  // JSON object name -> SamplingSettings
        {"storage/database", QString()},  // empty: <app data>/ravel.sqlite
        {"storage/snapshotCapBytes", qint64{2} * 1024 * 1024 * 1024},
    };
    return table;
}

AppSettings::AppSettings(const QString& file, QObject* parent) : QObject(parent) {
    settings_ = file.isEmpty() ? std::make_unique<QSettings>()
                               : std::make_unique<QSettings>(file, QSettings::IniFormat);
}

QVariant AppSettings::get(const char* key) const {
    for (const Default& d : defaults()) {
        if (qstrcmp(d.key, key) == 0) {
            QVariant v = settings_->value(QLatin1String(key), d.value);
            // A value of the wrong type (hand-edited file) falls back to the default.
            if (!v.convert(d.value.metaType())) return d.value;
            return v;
        }
    }
    Q_ASSERT_X(false, "AppSettings", "key missing from the defaults table");
    return {};
}

void AppSettings::set(const char* key, const QVariant& value) {
    if (settings_->value(QLatin1String(key)) == value) return;
    settings_->setValue(QLatin1String(key), value);
    emit changed();
}

QString AppSettings::modelPath() const {
    return get("model/path").toString();
}
void AppSettings::setModelPath(const QString& path) {
    set("model/path", path);
}

QStringList AppSettings::recentModels() const {
    return get("model/recent").toStringList();
}

void AppSettings::addRecentModel(const QString& path) {
    QStringList list = recentModels();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > 8) list.removeLast();
    set("model/recent", list);
}

void AppSettings::removeRecentModel(const QString& path) {
    QStringList list = recentModels();
    list.removeAll(path);
    set("model/recent", list);
}

int AppSettings::threads() const {
    return std::clamp(get("model/threads").toInt(), 0, 1024);
}
void AppSettings::setThreads(int threads) {
    set("model/threads", std::clamp(threads, 0, 1024));
}

QString AppSettings::device() const {
    const QString d = get("model/device").toString().trimmed().toLower();
    static const QRegularExpression valid(QStringLiteral("^(auto|cpu|cuda(:[0-9]{1,3})?)$"));
    return valid.match(d).hasMatch() ? d : QStringLiteral("auto");
}
void AppSettings::setDevice(const QString& device) {
    set("model/device", device);
}

QString AppSettings::weights() const {
    const QString w = get("model/weights").toString().trimmed().toLower();
    // The engine's own type names, so a type it gains is a valid setting at once.
    return ravel::dtype_from_name(w.toStdString()) ? w : QStringLiteral("stored");
}
void AppSettings::setWeights(const QString& weights) {
    set("model/weights", weights);
}

QString AppSettings::theme() const {
    const QString t = get("ui/theme").toString();
    return (t == QLatin1String("light") || t == QLatin1String("dark")) ? t
                                                                       : QStringLiteral("system");
}
void AppSettings::setTheme(const QString& theme) {
    set("ui/theme", theme);
}

QString AppSettings::systemPrompt() const {
    return get("chat/systemPrompt").toString();
}
void AppSettings::setSystemPrompt(const QString& prompt) {
    set("chat/systemPrompt", prompt);
}

QString AppSettings::databasePath() const {
    const QString configured = get("storage/database").toString();
    if (!configured.isEmpty()) return configured;
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    return QDir(dir).filePath(QStringLiteral("ravel.sqlite"));
}

qint64 AppSettings::snapshotCapBytes() const {
    return std::max<qint64>(0, get("storage/snapshotCapBytes").toLongLong());
}
void AppSettings::setSnapshotCapBytes(qint64 bytes) {
    set("storage/snapshotCapBytes", std::max<qint64>(0, bytes));
}

SamplingSettings AppSettings::defaultSampling() const {
    const QString json = get("chat/sampling").toString();
    if (json.isEmpty()) return builtin_preset(QStringLiteral("Balanced"));
    return SamplingSettings::fromJson(QJsonDocument::fromJson(json.toUtf8()).object());
}

void AppSettings::setDefaultSampling(const SamplingSettings& settings) {
    set("chat/sampling",
        QString::fromUtf8(QJsonDocument(settings.toJson()).toJson(QJsonDocument::Compact)));
}

QMap<QString, SamplingSettings> AppSettings::userPresets() const {
    QMap<QString, SamplingSettings> out;
    const QJsonObject obj =
        QJsonDocument::fromJson(get("chat/userPresets").toString().toUtf8()).object();
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        if (it.value().isObject())
            out.insert(it.key(), SamplingSettings::fromJson(it.value().toObject()));
    }
    return out;
}

void AppSettings::setUserPreset(const QString& name, const SamplingSettings& settings) {
    QJsonObject obj = QJsonDocument::fromJson(get("chat/userPresets").toString().toUtf8()).object();
    obj.insert(name, settings.toJson());
    set("chat/userPresets", QString::fromUtf8(QJsonDocument(obj).toJson(QJsonDocument::Compact)));
}

void AppSettings::removeUserPreset(const QString& name) {
    QJsonObject obj = QJsonDocument::fromJson(get("chat/userPresets").toString().toUtf8()).object();
    obj.remove(name);
    set("chat/userPresets", QString::fromUtf8(QJsonDocument(obj).toJson(QJsonDocument::Compact)));
}

void AppSettings::sync() {
    settings_->sync();
}

}  // namespace ravel::app
