/// GET/PUT to a credentials endpoint with the metadata timeouts and a few quick tries. These endpoints
/// are local to the host (link-local or loopback): when they fail, they fail fast, so long waits only
/// delay the error.
enum MetadataRequests {
    enum Failure: Error {
        /// Could not connect or timed out on every try.
        case unreachable(TransportError)
        /// The endpoint rejected us or broke (a 4xx, or a 5xx on every try).
        case status(Int)
        /// Refused to send (bad URL, bad header): a configuration error, not an availability one.
        case configuration(TransportError)
    }

    static func send(
        _ method: String, _ url: EndpointURL, headers: [HTTPHeader], context: AWSContext
    ) throws(Failure) -> HTTPResponse {
        let request = HTTPRequest(
            method: method, url: url.string, headers: [HTTPHeader("Host", url.hostHeader)] + headers, body: [],
            timeouts: context.metadataTimeouts, bypassProxy: true)
        var attempt = 1
        while true {
            let response: HTTPResponse
            do {
                response = try context.transport.send(request)
            } catch {
                guard error.isRetryable else { throw Failure.configuration(error) }
                guard attempt < context.metadataAttempts else { throw Failure.unreachable(error) }
                attempt += 1
                context.sleep(.milliseconds(50 << attempt))
                continue
            }
            if response.status >= 500 && attempt < context.metadataAttempts {
                attempt += 1
                context.sleep(.milliseconds(50 << attempt))
                continue
            }
            guard response.status == 200 else { throw Failure.status(response.status) }
            return response
        }
    }
}
