import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Speed, context and state size of the last reply; how long resuming from a snapshot took.
Rectangle {
    id: status
    objectName: "statusLine"
    implicitHeight: Math.max(28, statusLabel.implicitHeight + 10)
    color: Theme.surface

    function sizeText(bytes) {
        if (bytes >= 1048576) return qsTr("%1 MiB").arg((bytes / 1048576).toFixed(1))
        if (bytes >= 1024) return qsTr("%1 KiB").arg((bytes / 1024).toFixed(0))
        return qsTr("%1 B").arg(bytes)
    }

    readonly property string summary: {
        if (!Models.loaded) return Models.loading ? qsTr("Loading model…") : qsTr("No model loaded")
        let parts = [Models.modelName]
        if (Chat.generationTokensPerSecond > 0) {
            parts.push(qsTr("prompt %1 tok/s").arg(Chat.promptTokensPerSecond.toFixed(0)))
            parts.push(qsTr("generation %1 tok/s").arg(Chat.generationTokensPerSecond.toFixed(1)))
        }
        if (Chat.contextTokens > 0) parts.push(qsTr("%1 tokens in conversation").arg(Chat.contextTokens))
        if (Chat.stateBytes > 0) parts.push(qsTr("state %1").arg(sizeText(Chat.stateBytes)))
        if (Chat.resumeMs >= 0) parts.push(qsTr("resumed from snapshot in %1 ms").arg(Chat.resumeMs.toFixed(1)))
        return parts.join("  ·  ")
    }

    Rectangle { anchors.top: parent.top; width: parent.width; height: 1; color: Theme.border }
    Label {
        id: statusLabel
        objectName: "statusText"
        anchors.verticalCenter: parent.verticalCenter
        x: 12
        width: parent.width - 24
        verticalAlignment: Text.AlignVCenter
        wrapMode: Text.Wrap
        text: status.summary
        color: Theme.mutedText
        font.pointSize: 9
        Accessible.name: qsTr("Status: %1").arg(status.summary)
    }
}
