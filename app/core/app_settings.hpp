// Typed access to the app's persistent settings. Every key and its default live in one table
// (app_settings.cpp); the QSettings file is input like any other, so values read back are
// type-checked and clamped.
#pragma once

#include <QObject>
#include <QSettings>
#include <QStringList>
#include <memory>

#include "sampling_settings.hpp"

namespace ravel::app {

class AppSettings : public QObject {
    Q_OBJECT
    Q_PROPERTY(QString modelPath READ modelPath WRITE setModelPath NOTIFY changed)
    Q_PROPERTY(QStringList recentModels READ recentModels NOTIFY changed)
    Q_PROPERTY(int threads READ threads WRITE setThreads NOTIFY changed)
    Q_PROPERTY(QString device READ device WRITE setDevice NOTIFY changed)
    Q_PROPERTY(QString weights READ weights WRITE setWeights NOTIFY changed)
    Q_PROPERTY(QString theme READ theme WRITE setTheme NOTIFY changed)
    Q_PROPERTY(QString systemPrompt READ systemPrompt WRITE setSystemPrompt NOTIFY changed)
    Q_PROPERTY(QString databasePath READ databasePath NOTIFY changed)
    Q_PROPERTY(
        qint64 snapshotCapBytes READ snapshotCapBytes WRITE setSnapshotCapBytes NOTIFY changed)
  public:
    struct Default {
        const char* key;
        QVariant value;
    };
    static const QList<Default>& defaults();

    // `file` empty: the platform's usual location for organisation/application.
    explicit AppSettings(const QString& file = {}, QObject* parent = nullptr);

    QString modelPath() const;
    void setModelPath(const QString& path);
    QStringList recentModels() const;
    // Moves `path` to the front of the recent list (at most 8 entries).
    void addRecentModel(const QString& path);
    Q_INVOKABLE void removeRecentModel(const QString& path);
    int threads() const;
    void setThreads(int threads);
    QString device() const;  // "auto", "cpu", "cuda" or "cuda:N"
    void setDevice(const QString& device);
    // "stored" (the type the model file holds its matrices in) or a weight type to convert to
    // at load: "f32", "f16", "bf16", "q8_0", "q5_1", "q4_0".
    QString weights() const;
    void setWeights(const QString& weights);
    QString theme() const;  // "system", "light" or "dark"
    void setTheme(const QString& theme);
    QString systemPrompt() const;
    void setSystemPrompt(const QString& prompt);
    QString databasePath() const;  // default: <app data>/ravel.sqlite
    qint64 snapshotCapBytes() const;
    void setSnapshotCapBytes(qint64 bytes);
    SamplingSettings defaultSampling() const;
    void setDefaultSampling(const SamplingSettings& settings);
    // User presets: name -> settings.
    QMap<QString, SamplingSettings> userPresets() const;
    void setUserPreset(const QString& name, const SamplingSettings& settings);
    void removeUserPreset(const QString& name);

    void sync();

  signals:
    void changed();

  private:
    QVariant get(const char* key) const;
    void set(const char* key, const QVariant& value);

    std::unique_ptr<QSettings> settings_;
};

}  // namespace ravel::app
