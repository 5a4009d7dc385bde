import Foundation
import TestSupport

/// A TCP proxy on loopback in front of the test PostgreSQL that can cut every connection through it
/// at once, as a failover or a proxy restart does. A small Python program (python3 is on every test
/// machine: the scripts need it), told to cut by a line on its standard input (a signal could arrive
/// blocked: the test runner's threads block some).
final class CuttingProxy {
    let port: Int
    private let process: Process
    private let control = Pipe()

    static let program = #"""
        import os, socket, sys, threading
        target = int(sys.argv[1])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        print(server.getsockname()[1], flush=True)
        lock = threading.Lock()
        live = set()

        def pump(source, sink):
            try:
                while True:
                    data = source.recv(65536)
                    if not data:
                        break
                    sink.sendall(data)
            except OSError:
                pass
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        def cut():
            with lock:
                for end in live:
                    try:
                        end.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                live.clear()

        def listen_for_cuts():
            for _ in sys.stdin:
                cut()
            os._exit(0)  # standard input closed: the test is done

        threading.Thread(target=listen_for_cuts, daemon=True).start()
        while True:
            client, _ = server.accept()
            upstream = socket.create_connection(("127.0.0.1", target))
            with lock:
                live.update((client, upstream))
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        """#

    init(to targetPort: Int) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.program, String(targetPort)]
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = control
        try process.run()
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data("\n".utf8) {
            line.append(byte)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else {
            try? control.fileHandleForWriting.close()
            throw TestSetupError("the cutting proxy did not start")
        }
        self.port = port
    }

    /// Cuts every connection open now; new ones go through as before.
    func cut() { control.fileHandleForWriting.write(Data("cut\n".utf8)) }

    /// Closing its standard input ends it (a signal might arrive blocked, see above).
    func stop() {
        try? control.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}
